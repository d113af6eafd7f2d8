/* Attune embedded admin: prices and the market (issue 20). Loaded after admin.js, whose helpers it uses through
   window.attune. Where each matched variant sits against the lowest competitor price (above / below, by how much),
   undercut alerts, title matches waiting for the merchant's confirmation, competitor feeds with their last refresh
   (each rejected line with its reason), and the price suggestions with their measured price response, each approved
   here (the guardrails are checked again on the server, and a refusal says why). */
(function () {
  "use strict";
  const A = window.attune;
  const box = document.getElementById("market-body");
  if (!A || !box) return;
  const el = A.el, api = A.api;

  function pct(v) { return (v >= 0 ? "+" : "−") + Math.abs(v * 100).toFixed(1) + " %"; }
  function money(v) { return v === null || v === undefined ? "—" : Number(v).toFixed(2); }
  function post(path, body) {
    return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }
  function table(caption, head, rows) {
    return el("div", { class: "table-wrap" }, el("table", {},
      el("caption", { class: "visually-hidden", text: caption }),
      el("thead", {}, el("tr", {}, head.map(function (h, i) { return el("th", { scope: "col", class: i ? "num" : "", text: h }); }))),
      el("tbody", {}, rows)));
  }

  function positions(body) {
    if (!body.variants.length) return el("p", { class: "muted", text: "No variant is matched to a competitor's price yet." });
    return table("Your prices against the lowest competitor price", ["Variant", "Your price", "Market low", "Competitor", "Difference"],
      body.variants.map(function (v) {
        const tone = v.position === "above" ? "critical" : v.position === "below" ? "success" : "info";
        const words = v.position === "at" ? "at the market" : pct(v.gap) + (v.position === "above" ? " above" : " below");
        return el("tr", { "data-variant": v.variant_id, "data-position": v.position },
          el("th", { scope: "row", text: v.title }), el("td", { class: "num", text: money(v.price) }),
          el("td", { class: "num", text: money(v.market_low) }), el("td", { class: "num", text: v.competitor }),
          el("td", { class: "num" }, el("span", { class: "badge " + tone, text: words })));
      }));
  }

  function alertsList(body) {
    if (!body.alerts.length) return null;
    return el("ul", { class: "alerts" }, body.alerts.slice(0, 20).map(function (a) {
      return el("li", { text: (a.title || a.variant_id) + ": " + a.competitor + " sells at " + money(a.their_price) + ", " +
        (a.undercut * 100).toFixed(0) + " % below your " + money(a.our_price) + (a.mailed ? " (e-mailed)" : "") });
    }));
  }

  function matchesList(body) {
    if (!body.matches.length) return null;
    return table("Title matches to confirm", ["Their item", "Your variant", "Similarity", ""], body.matches.map(function (m) {
      const decide = function (decision) {
        return function () { post("/api/admin/pricing/competitors/matches/" + m.id, { decision: decision }).then(load, fail); };
      };
      return el("tr", { "data-match": m.id },
        el("th", { scope: "row", text: m.competitor + ": " + m.their_title + " (" + money(m.their_price) + ")" }),
        el("td", { class: "num", text: m.our_title + " (" + money(m.our_price) + ")" }),
        el("td", { class: "num", text: (m.score * 100).toFixed(0) + " %" }),
        el("td", { class: "num" }, el("button", { type: "button", class: "btn", text: "Confirm", onclick: decide("confirm") }),
          " ", el("button", { type: "button", class: "btn", text: "Reject", onclick: decide("reject") })));
    }));
  }

  function feedsList(body) {
    const items = body.feeds.map(function (f) {
      const r = f.last_report || {};
      const rejected = (r.rejected || []).slice(0, 10).map(function (x) { return el("li", { text: "line " + x.line + ": " + x.reason }); });
      return el("li", { "data-feed": f.competitor },
        f.competitor + (f.url ? " (" + f.url + ")" : " (uploaded file)") + ", alert below " + f.alert_pct + " %: " +
        (f.last_status ? f.last_status + (f.last_error ? " — " + f.last_error : ", " + (r.stored || 0) + " items, " +
          (r.matched || 0) + " matched") : "not fetched yet"), rejected.length ? el("ul", { class: "small" }, rejected) : null);
    });
    const name = el("input", { type: "text", name: "competitor", placeholder: "Competitor", "aria-label": "Competitor name" });
    const url = el("input", { type: "url", name: "url", placeholder: "https://… feed (CSV, TSV or XML, Merchant Center format)", "aria-label": "Feed URL" });
    const form = el("form", { class: "inline", onsubmit: function (e) {
      e.preventDefault();
      post("/api/admin/pricing/competitors/feeds", { competitor: name.value, url: url.value }).then(load, fail);
    } }, name, " ", url, " ", el("button", { type: "submit", class: "btn", text: "Add feed" }));
    return el("div", {}, items.length ? el("ul", { class: "feeds small" }, items) : null, form);
  }

  function suggestionsList(body) {
    if (!body.suggestions.length) return el("p", { class: "muted", text: "No price suggestion today." });
    return table("Price suggestions", ["Variant", "Now", "Suggested", "Price response", ""], body.suggestions.map(function (s) {
      const approve = el("button", { type: "button", class: "btn", text: "Approve", disabled: !s.allowed, onclick: function () {
        post("/api/admin/pricing/price-changes", { variant_id: s.variant_id, price: s.suggested, reason: s.reason })
          .then(function () { approve.replaceWith(el("span", { class: "badge info", text: "approved" })); }, fail);
      } });
      return el("tr", { "data-suggestion": s.variant_id, title: s.reason },
        el("th", { scope: "row", text: s.title + " (" + s.kind + ")" }), el("td", { class: "num", text: money(s.current) }),
        el("td", { class: "num", text: money(s.suggested) }),
        el("td", { class: "num", text: "elasticity " + s.elasticity.toFixed(1) + " ± " + s.elasticity_sd.toFixed(1) +
          (s.measured ? "" : " (prior)") + ", " + pct(s.units_change) + " units" }),
        el("td", { class: "num" }, s.allowed ? approve : el("span", { class: "badge critical", text: s.refusals.join("; ") })));
    }));
  }

  function compareAtFlags(body) {
    if (!body.compare_at_flags.length) return null;
    return el("ul", { class: "alerts small" }, body.compare_at_flags.map(function (f) {
      return el("li", { "data-compare-at": f.variant_id }, el("span", { class: "badge " + (f.sells_in_eu ? "critical" : "warning"), text: "was-price" }),
        " " + f.title + ": " + money(f.price) + " was " + money(f.compare_at) + ". " + f.message);
    }));
  }

  function fail(err) { box.prepend(el("p", { class: "error", role: "alert", text: err.message })); }

  function load() {
    Promise.all([
      api("/api/admin/pricing/competitors"), api("/api/admin/pricing/competitors/alerts"),
      api("/api/admin/pricing/competitors/matches?status=suggested"), api("/api/admin/pricing/competitors/feeds"),
      api("/api/admin/pricing/suggestions"),
    ]).then(function (r) {
      box.replaceChildren(
        el("h3", { text: "Your prices against the market" }), positions(r[0]), alertsList(r[1]),
        r[2].matches.length ? el("h3", { text: "Matches to confirm" }) : null, matchesList(r[2]),
        el("h3", { text: "Competitor feeds" }), feedsList(r[3]),
        el("h3", { text: "Price suggestions" }), compareAtFlags(r[4]), suggestionsList(r[4]));
      box.closest(".card").removeAttribute("aria-busy");
    }).catch(function (err) {
      box.replaceChildren(el("p", { class: "error", role: "alert", text: "Could not load prices and the market: " + err.message }));
    });
  }
  load();
})();
