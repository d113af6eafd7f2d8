/* Attune embedded admin: the pricing agent's proof (GET /api/admin/pricing). Loaded after admin.js, whose helpers
   it uses through window.attune. Incremental gross margin per eligible shopper against the no-offer control group,
   AOV treated vs control, discount spend against the weekly budget, waste, each offer, and the seed's AOV figure
   beside them, labelled as a reference. */
(function () {
  "use strict";
  const A = window.attune;
  const box = document.getElementById("pricing-body");
  if (!A || !box) return;
  const el = A.el, api = A.api, count = A.count;

  function money(v) { return v === null || v === undefined ? "—" : (v >= 0 ? "+" : "") + v.toFixed(2); }
  function plain(v) { return v === null || v === undefined ? "—" : v.toFixed(2); }
  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + " %"; }
  function ci(iv, f) { return iv ? f(iv.estimate) + " [" + f(iv.low) + ", " + f(iv.high) + "]" : "—"; }
  function tone(iv) { return !iv ? "" : iv.low > 0 ? "success" : iv.high < 0 ? "critical" : "info"; }

  function render(body) {
    const t = body.treated, c = body.control, inc = body.incremental_margin_per_shopper;
    const parts = [];
    if (!body.settled_eligible) {
      parts.push(el("p", { class: "muted", text: count(body.decisions) + " offer decision(s) in the last " + body.days +
        " days; none has finished its 14 days yet." }));
    } else {
      parts.push(el("div", { class: "table-wrap" }, el("table", { class: "groups" },
        el("caption", { class: "visually-hidden", text: "Gross margin within 14 days per eligible shopper, offers vs control" }),
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "" }),
          el("th", { scope: "col", class: "num", text: "Shoppers" }),
          el("th", { scope: "col", class: "num", text: "Margin per shopper" }),
          el("th", { scope: "col", class: "num", text: "Average order value" }))),
        el("tbody", {},
          el("tr", { "data-group": "treated" }, el("th", { scope: "row", text: "Offers decided by Attune" }),
            el("td", { class: "num", text: count(t.shoppers) }), el("td", { class: "num", text: plain(t.margin_per_shopper) }),
            el("td", { class: "num", text: plain(t.aov) })),
          el("tr", { "data-group": "control" }, el("th", { scope: "row", text: "No-offer control" }),
            el("td", { class: "num", text: count(c.shoppers) }), el("td", { class: "num", text: plain(c.margin_per_shopper) }),
            el("td", { class: "num", text: plain(c.aov) }))))));
      parts.push(el("p", { class: "verdict" }, "Incremental gross margin per eligible shopper: ",
        el("span", { class: "badge " + tone(inc), text: ci(inc, money) }),
        "; average order value, treated − control: " + ci(body.aov_difference, money)));
    }
    const d = body.discount, w = body.waste;
    parts.push(el("p", { class: "small" }, "Discount this week: " + plain(d.week_spend) + " of a " + plain(d.weekly_budget) +
      " budget (" + pct(d.share_of_budget) + "). Redeemed codes: " + count(w.redemptions) + ", " + pct(w.share) +
      " of them by shoppers predicted to buy anyway."));
    parts.push(el("h3", { text: "For comparison (not measured in your shop)" }));
    parts.push(el("ul", { class: "market small" }, el("li", {}, body.reference.label + ": " + pct(body.reference.low) + "–" +
      pct(body.reference.high) + " (" + body.reference.kind + ")")));
    box.replaceChildren.apply(box, parts);
    box.closest(".card").removeAttribute("aria-busy");
  }

  api("/api/admin/pricing").then(render).catch(function (err) {
    box.replaceChildren(el("p", { class: "error", role: "alert", text: "Could not load personal offers: " + err.message }));
  });
})();
