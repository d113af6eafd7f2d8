/* Attune embedded admin: the checkout-rescue proof (GET /api/admin/rescue). Loaded after admin.js, whose helpers
   it uses through window.attune. Incremental recovery against the holdout, per timing arm, with the market's
   attributed figures beside it, labelled as such, and the strategic-abandonment guardrail; then in-session rescue:
   at-risk sessions converting within the window, treated vs holdout, per rung. */
(function () {
  "use strict";
  const A = window.attune;
  const box = document.getElementById("rescue-body");
  if (!A || !box) return;
  const el = A.el, api = A.api, count = A.count;

  function pct(v, digits) { return v === null || v === undefined ? "—" : (v * 100).toFixed(digits === undefined ? 1 : digits) + " %"; }
  function pts(v) { return (v >= 0 ? "+" : "") + (v * 100).toFixed(1) + " pts"; }
  function ci(iv) { return iv ? pts(iv.estimate) + " [" + pts(iv.low) + ", " + pts(iv.high) + "]" : "—"; }
  function money(v) { return v === null || v === undefined ? "—" : (v >= 0 ? "+" : "") + v.toFixed(2); }
  function revenue(r) { return r ? money(r.total) + " [" + money(r.low) + ", " + money(r.high) + "]" : "—"; }
  function tone(iv) { return !iv ? "" : iv.low > 0 ? "success" : iv.high < 0 ? "critical" : "info"; }

  function armRow(a, name, unit) {
    unit = unit || "checkouts";
    return el("tr", { "data-arm": a.arm || "all" },
      el("th", { scope: "row", text: name }),
      el("td", { class: "num", text: count(a.treated[unit]) + " / " + count(a.holdout[unit]) }),
      el("td", { class: "num", text: pct(a.treated.recovery_rate) }),
      el("td", { class: "num", text: pct(a.holdout.recovery_rate) }),
      el("td", { class: "num" }, el("span", { class: "badge " + tone(a.incremental_recovery), text: ci(a.incremental_recovery) })),
      el("td", { class: "num", text: revenue(a.incremental_revenue) }));
  }

  function render(body) {
    const parts = [];
    if (!body.overall) {
      parts.push(el("p", { class: "muted", text: "No abandoned checkout has been decided in the last " + body.days + " days yet." }));
    } else {
      parts.push(el("p", { class: "verdict", text: body.overall.verdict.text }));
      parts.push(el("div", { class: "table-wrap" }, el("table", { class: "groups" },
        el("caption", { class: "visually-hidden", text: "Abandoned-checkout recovery within " + body.window_days + " days, treated vs holdout, per first-message delay" }),
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "First message after" }),
          el("th", { scope: "col", class: "num", text: "Checkouts (treated / holdout)" }),
          el("th", { scope: "col", class: "num", text: "Recovered, treated" }),
          el("th", { scope: "col", class: "num", text: "Recovered, holdout" }),
          el("th", { scope: "col", class: "num", text: "Incremental recovery (95% CI)" }),
          el("th", { scope: "col", class: "num", text: "Incremental revenue (95% CI)" }))),
        el("tbody", {}, [armRow(body.overall, "All timings")].concat(body.timing_arms.map(function (a) { return armRow(a, a.arm); }))))));
    }
    parts.push(el("h3", { text: "For comparison (not measured in your shop)" }));
    parts.push(el("ul", { class: "market small" }, body.market.map(function (m) {
      return el("li", {}, m.label + ": " + pct(m.low, 0) + "–" + pct(m.high, 0) + " (" + m.kind + ")");
    })));
    const g = body.guardrail;
    parts.push(el("h3", { text: "Guardrail: strategic abandonment" }));
    parts.push(el("p", { class: "small", "data-guardrail": g.status },
      "Share of " + g.definition + ": " + pct(g.before_launch.share) + " of " + count(g.before_launch.orders) +
      " orders before launch, " + pct(g.since_launch.share) + " of " + count(g.since_launch.orders) + " since. ",
      el("span", { class: "badge " + (g.status === "rose" ? "critical" : g.status === "ok" ? "success" : ""),
        text: g.status === "rose" ? "Rising: shoppers may be waiting for codes" : g.status === "ok" ? "Not rising" : "Collecting" })));
    parts.push.apply(parts, inSession(body.in_session, body.window_days));
    box.replaceChildren.apply(box, parts);
    box.closest(".card").removeAttribute("aria-busy");
  }

  function inSession(ins, days) {
    const out = [el("h3", { text: "In-session rescue: at-risk sessions" })];
    if (!ins || !ins.overall) {
      out.push(el("p", { class: "muted", "data-in-session": "none", text: "No at-risk session has been decided yet." }));
      return out;
    }
    out.push(el("p", { class: "small", text: "Share of " + ins.definition + ". " + ins.overall.verdict.text }));
    out.push(el("div", { class: "table-wrap" }, el("table", { class: "groups", "data-in-session": "rows" },
      el("caption", { class: "visually-hidden", text: "At-risk sessions converting within " + days + " days, treated vs holdout, per rung" }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Rung" }),
        el("th", { scope: "col", class: "num", text: "Sessions (treated / holdout)" }),
        el("th", { scope: "col", class: "num", text: "Converted, treated" }),
        el("th", { scope: "col", class: "num", text: "Converted, holdout" }),
        el("th", { scope: "col", class: "num", text: "Incremental conversion (95% CI)" }),
        el("th", { scope: "col", class: "num", text: "Incremental revenue (95% CI)" }))),
      el("tbody", {}, [armRow(ins.overall, "All rungs", "sessions")].concat(ins.rungs.map(function (a) { return armRow(a, a.arm, "sessions"); }))))));
    return out;
  }

  function load() {
    const days = document.getElementById("window-days").value;
    return api("/api/admin/rescue?window_days=" + encodeURIComponent(days)).then(render).catch(function (err) {
      box.replaceChildren(el("p", { class: "error", role: "alert", text: "Could not load checkout rescue: " + err.message }));
    });
  }
  document.getElementById("window-days").addEventListener("change", load);
  load();
})();
