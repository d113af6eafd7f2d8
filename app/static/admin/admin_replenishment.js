/* Attune embedded admin: the replenishment agent's proof (GET /api/admin/replenishment) and its one setting, the
   shop's delivery time (GET/PUT /api/admin/replenishment/settings). Loaded after admin.js, whose helpers it uses
   through window.attune. Repeat purchase and replenishment rates, treated vs holdout, with the incremental
   difference and its interval; the seed's figures beside them, labelled as references. */
(function () {
  "use strict";
  const A = window.attune;
  const box = document.getElementById("replenishment-body");
  if (!A || !box) return;
  const el = A.el, api = A.api, count = A.count;

  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + " %"; }
  function pts(v) { return (v >= 0 ? "+" : "") + (v * 100).toFixed(1) + " pts"; }
  function ci(d) { return d ? pts(d.estimate) + " [" + pts(d.low) + ", " + pts(d.high) + "]" : "—"; }
  function tone(d) { return !d ? "" : d.low > 0 ? "success" : d.high < 0 ? "critical" : "info"; }

  function row(name, r) {
    return el("tr", {},
      el("th", { scope: "row", text: name }),
      el("td", { class: "num", text: count(r.treatment.shoppers) + " / " + count(r.holdout.shoppers) }),
      el("td", { class: "num", text: pct(r.treatment.rate) }),
      el("td", { class: "num", text: pct(r.holdout.rate) }),
      el("td", { class: "num" }, el("span", { class: "badge " + tone(r.difference), text: ci(r.difference) })),
      el("td", { class: "num", text: count(r.open_windows) }));
  }

  function settingsForm(current) {
    const input = el("input", { type: "number", id: "delivery-days", min: "0", max: "60", step: "1", value: String(current.delivery_days), required: "" });
    const note = el("span", { class: "small", role: "status" });
    const form = el("form", { class: "inline-form", id: "replenishment-settings" },
      el("label", { for: "delivery-days", text: "Delivery time (days) " }), input,
      el("button", { type: "submit", text: "Save" }), note);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      note.textContent = "Saving…";
      api("/api/admin/replenishment/settings", { method: "PUT", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ delivery_days: Number(input.value) }) })
        .then(function (b) { note.textContent = "Saved: reminders go out " + b.delivery_days + " days before a supply runs out, plus 3 days' lead."; })
        .catch(function (err) { note.textContent = "Not saved: " + err.message; });
    });
    return form;
  }

  function render(body, current) {
    const parts = [settingsForm(current)];
    if (!body.shoppers) {
      parts.push(el("p", { class: "muted", text: "No replenishment reminder has been decided in the last " + body.days + " days yet." }));
    } else {
      parts.push(el("div", { class: "table-wrap" }, el("table", { class: "groups" },
        el("caption", { class: "visually-hidden", text: "Repeat purchase and replenishment of reminded products, treated vs holdout" }),
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Measure" }),
          el("th", { scope: "col", class: "num", text: "Shoppers (treated / holdout)" }),
          el("th", { scope: "col", class: "num", text: "Treated" }),
          el("th", { scope: "col", class: "num", text: "Holdout" }),
          el("th", { scope: "col", class: "num", text: "Incremental (95% CI)" }),
          el("th", { scope: "col", class: "num", text: "Windows still open" }))),
        el("tbody", {},
          row("Bought again within 30 days", body.repeat_purchase_30d),
          row("Bought again within 60 days", body.repeat_purchase_60d),
          row("Bought again within 90 days", body.repeat_purchase_90d),
          row("Replenished by 14 days after due", body.replenishment)))));
    }
    parts.push(el("h3", { text: "For comparison (not measured in your shop)" }));
    parts.push(el("ul", { class: "market small" },
      el("li", { text: body.references.repeat_purchase_rate }), el("li", { text: body.references.replenishment_rate })));
    box.replaceChildren.apply(box, parts);
    box.closest(".card").removeAttribute("aria-busy");
  }

  Promise.all([api("/api/admin/replenishment"), api("/api/admin/replenishment/settings")])
    .then(function (both) { render(both[0], both[1]); })
    .catch(function (err) {
      box.replaceChildren(el("p", { class: "error", role: "alert", text: "Could not load replenishment: " + err.message }));
    });
})();
