/* Attune embedded admin: newsletters (/api/admin/campaigns). The merchant writes one (subject and text, with
   {first_name}, {shop} and {interest} filled per recipient, an optional second subject the bandit tests), previews
   what one customer would get, and sends it; each campaign shows its decisions, its lift against its own holdout
   and its variants' readout, in words and tables (never colour alone). */
(function () {
  "use strict";
  const A = window.attune;
  const box = document.getElementById("campaigns-body");
  const form = document.getElementById("campaign-form");
  if (!A || !box || !form) return;
  const el = A.el, api = A.api, count = A.count;
  const status = document.getElementById("campaign-status");

  function pts(v) { return (v >= 0 ? "+" : "−") + Math.abs(v * 100).toFixed(1) + " pts"; }
  function liftText(l) {
    if (!l.conversion) return "collecting: " + count(l.treated.shoppers) + " sent, " + count(l.holdout.shoppers) + " held out";
    const c = l.conversion;
    return pts(c.estimate) + " (" + pts(c.low) + " … " + pts(c.high) + ") against " + count(l.holdout.shoppers) + " held out";
  }
  function post(path, body) {
    return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
  }

  function previewForm(c) {
    const id = "preview-customer-" + c.id;
    const out = el("div", { class: "preview", "aria-live": "polite" });
    const input = el("input", { id: id, type: "text", inputmode: "numeric", required: true, size: 12 });
    return el("div", null, el("form", { class: "inline", "data-preview": c.id, onsubmit: function (ev) {
      ev.preventDefault();
      api("/api/admin/campaigns/" + c.id + "/preview?customer=" + encodeURIComponent(input.value.trim())).then(function (p) {
        out.replaceChildren(el("p", null, el("strong", { text: "Subject: " }), el("span", { "data-preview-subject": "", text: p.subject })),
          el("p", { class: "small muted", text: p.reason }),
          el("ul", null, (p.data.paragraphs || []).map(function (t) { return el("li", { text: t }); })
            .concat((p.data.products || []).map(function (x) { return el("li", { "data-preview-product": x.id, text: x.title + (x.price ? " · " + x.price : "") }); }))));
      }).catch(function (err) { out.replaceChildren(el("p", { class: "error", role: "alert", text: err.message })); });
    } }, el("label", { for: id, class: "small muted", text: "Preview for customer id " }), input,
      el("button", { type: "submit", class: "btn", text: "Preview" })), out);
  }

  function row(c) {
    const d = c.decisions || {};
    const sendBtn = c.status === "draft" ? el("button", { type: "button", class: "btn", "data-send": c.id, text: "Send", onclick: function () {
      post("/api/admin/campaigns/" + c.id + "/send").then(load).catch(function (err) { status.textContent = err.message; });
    } }) : null;
    const variants = (c.readout[0] || { variants: [] }).variants.map(function (v) {
      return el("tr", null, el("th", { scope: "row", text: v.variant }), el("td", { class: "num", text: count(v.shoppers) }),
        el("td", { class: "num", text: v.lift ? pts(v.lift.estimate) + " (" + pts(v.lift.low) + " … " + pts(v.lift.high) + ")" : "collecting" }),
        el("td", { class: "num", text: Math.round(v.probability_best * 100) + " %" }));
    });
    return el("article", { class: "campaign", "data-campaign": c.id },
      el("h3", { text: c.name + " — " + c.status }),
      el("p", { class: "small", text: "Sent " + count(d.send || 0) + ", scheduled " + count(d.defer || 0) + ", held out " +
        count(d.hold_out || 0) + ", not sent " + count(d.suppress || 0) + ". Lift: " + liftText(c.lift) }),
      variants.length ? el("div", { class: "table-wrap" }, el("table", { class: "groups" },
        el("caption", { text: "Variants (conversion within 7 days against the campaign's holdout)" }),
        el("thead", null, el("tr", null, ["Variant", "Sent", "Lift", "Chance it is best"].map(function (t) { return el("th", { scope: "col", text: t }); }))),
        el("tbody", null, variants))) : null,
      sendBtn, previewForm(c));
  }

  function load() {
    return api("/api/admin/campaigns").then(function (body) {
      box.replaceChildren(body.campaigns.length ? el("div", null, body.campaigns.map(row))
        : el("p", { class: "muted", text: "No newsletter yet: write one above." }));
      box.closest(".card").removeAttribute("aria-busy");
    }).catch(function (err) {
      box.replaceChildren(el("p", { class: "error", role: "alert", text: "Could not load newsletters: " + err.message }));
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const f = new FormData(form);
    const body = { name: f.get("name"), subject: f.get("subject"), body: f.get("body"),
      holdout_share: Number(f.get("holdout_share")) / 100, products: Number(f.get("products")) };
    const alt = (f.get("variant_subject") || "").trim();
    if (alt) body.variants = [{ subject: f.get("subject") }, { subject: alt }];
    post("/api/admin/campaigns", body).then(function () { status.textContent = "Saved."; form.reset(); return load(); })
      .catch(function (err) { status.textContent = err.message; });
  });
  load();
})();
