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

  function pct(x) { return x === null || x === undefined ? "–" : Math.round(x * 100) + " %"; }

  function loadResolution() {
    return api("/api/admin/support/resolution?days=30").then(function (r) {
      const judged = r.conversations - r.pending;
      const rows = [
        el("p", {}, el("strong", { text: "AI resolution rate " + pct(r.resolution_rate) }),
          el("span", { class: "muted small", text: " — " + count(r.resolved) + " of " + count(judged) + " conversations of the last 30 days answered with no hand-off and no follow-up within 72 h" +
            (r.pending ? " (" + count(r.pending) + " still within 72 h)" : "") })),
        el("p", { class: "small" }, "Handed to a person: " + pct(r.handoff_rate) + " of " + count(r.conversations) + " conversations."),
        el("p", { class: "small", "data-feedback": "" }, "Shoppers' ratings of its answers: " + count(r.feedback.up) + " 👍, " + count(r.feedback.down) + " 👎" +
          (r.feedback.helpful_rate === null ? "" : " (" + pct(r.feedback.helpful_rate) + " helpful)") + "."),
        el("p", { class: "small muted", text: "For reference: " + r.references.traditional + "; " + r.references.with_agents + "." })
      ];
      if (r.unanswered.length) {
        rows.push(el("p", { class: "small", text: "Questions it could not answer (add them to your FAQ):" }),
          el("ul", { class: "unanswered small" }, r.unanswered.map(function (u) { return el("li", {}, el("span", { text: u.question }), " ", el("span", { class: "muted", text: "×" + u.times })); })));
      }
      show("resolution-body", rows);
    }).catch(failure("resolution-body", "the resolution rate"));
  }

  function loadAll() { return Promise.all([loadSummary(), loadFaq(), loadResolution()]); }
  loadAll();
})();
