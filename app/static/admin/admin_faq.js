/* Attune embedded admin: the support assistant's knowledge — how many passages it answers from, a re-sync
   button, and the merchant's FAQ editor. Loaded after admin.js, whose helpers it uses through window.attune.
   Every text is set with textContent (el's "text"), never as HTML. */
(function () {
  "use strict";
  const A = window.attune;
  if (!A || !document.getElementById("knowledge")) return;
  const el = A.el, api = A.api, when = A.when, label = A.label, count = A.count;

  function json(method, body) { return { method: method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }; }
  function show(id, content) {
    const box = document.getElementById(id);
    box.replaceChildren();
    [].concat(content).forEach(function (c) { if (c) box.appendChild(c); });
    const card = box.closest(".card");
    if (card) card.removeAttribute("aria-busy");
  }
  function failure(id, what) { return function (err) { show(id, el("p", { class: "error", role: "alert", text: "Could not load " + what + ": " + err.message })); }; }

  function loadSummary() {
    return api("/api/admin/support/knowledge").then(function (body) {
      const kinds = Object.keys(body.by_kind).sort().map(function (k) { return label(k) + " " + count(body.by_kind[k]); }).join(" · ");
      const status = el("span", { class: "small", role: "status" });
      const button = el("button", { type: "button", class: "btn", text: "Re-read policies and pages", onclick: function () {
        button.disabled = true;
        api("/api/admin/support/knowledge/sync", { method: "POST" })
          .then(function () { status.textContent = "Queued: the assistant's knowledge is being refreshed."; })
          .catch(function (err) { status.textContent = "Could not queue: " + err.message; })
          .finally(function () { button.disabled = false; });
      } });
      show("knowledge-summary", [el("p", {}, el("strong", { text: count(body.passages) + " passages" }), body.passages ? " — " + kinds : " — nothing synced yet"),
        el("div", { class: "row small" }, button, status)]);
    }).catch(failure("knowledge-summary", "the knowledge summary"));
  }

  function entryForm(entry, done) {
    const q = el("input", { type: "text", maxlength: 500, required: true, placeholder: "Do you ship to Canada?", value: entry ? entry.question : "" });
    const a = el("textarea", { rows: 3, maxlength: 4000, required: true, placeholder: "Yes: we ship to Canada in 5–8 business days." });
    a.value = entry ? entry.answer : "";
    const status = el("span", { class: "small", role: "status" });
    const save = el("button", { type: "submit", class: "btn", text: entry ? "Save" : "Add question" });
    const qid = "faq-q-" + (entry ? entry.id : "new"), aid = "faq-a-" + (entry ? entry.id : "new");
    q.id = qid; a.id = aid;
    return el("form", { class: "faq-form", "data-faq-form": entry ? entry.id : "new", onsubmit: function (ev) {
      ev.preventDefault();
      save.disabled = true;
      status.textContent = "Saving…";
      const body = { question: q.value, answer: a.value };
      api(entry ? "/api/admin/support/faq/" + entry.id : "/api/admin/support/faq", json(entry ? "PUT" : "POST", body))
        .then(function () { status.textContent = "Saved"; done(); })
        .catch(function (err) { save.disabled = false; status.textContent = ""; status.appendChild(el("span", { class: "error", text: "Could not save: " + err.message })); });
    } }, el("label", { for: qid, class: "small muted", text: "Question" }), q, el("label", { for: aid, class: "small muted", text: "Answer" }), a,
      el("div", { class: "row small" }, save, status));
  }

  function loadFaq() {
    return api("/api/admin/support/faq").then(function (body) {
      const items = body.faq.map(function (f) {
        const remove = el("button", { type: "button", class: "btn secondary", text: "Delete", onclick: function () {
          remove.disabled = true;
          api("/api/admin/support/faq/" + f.id, { method: "DELETE" }).then(loadAll)
            .catch(function (err) { remove.disabled = false; remove.after(el("span", { class: "error small", text: " " + err.message })); });
        } });
        return el("li", { "data-faq": f.id }, el("details", {}, el("summary", {}, el("strong", { text: f.question }), " ",
          el("span", { class: "muted small", text: "updated " + when(f.updated_at) })), el("p", { class: "small", text: f.answer }),
          entryForm(f, loadAll), remove));
      });
      show("faq-body", [body.faq.length ? el("ul", { class: "faq" }, items) : el("p", { class: "muted", text: "No questions yet. Add the ones shoppers ask you most." }),
        entryForm(null, loadAll)]);
    }).catch(failure("faq-body", "your FAQ"));
  }

  function loadAll() { return Promise.all([loadSummary(), loadFaq()]); }
  loadAll();
})();
