/* Attune embedded admin: the Reorder section (GET /api/admin/inventory). Loaded after admin.js, whose helpers it
   uses through window.attune. What to order from each vendor, the variants predicted to run out first (with each
   location's numbers where the shop has several), a CSV per vendor (GET /api/admin/inventory/reorder.csv, fetched
   with the session token), the alert and overstock switches (PUT /api/admin/inventory/preferences), and the
   Forecast accuracy section: a chart of each week's RMSSE against naive's, and the table beside it
   (GET /api/admin/inventory/accuracy). */
(function () {
  "use strict";
  const A = window.attune;
  const box = document.getElementById("reorder-body");
  if (!A || !box) return;
  const el = A.el, svg = A.svg, api = A.api, count = A.count;
  const SWITCHES = [["alert_email", "E-mail me stock-out alerts"], ["alert_flow", "Fire the Flow trigger \u201cStock-out predicted\u201d"],
    ["favour_overstock", "Favour overstocked items in recommendations (a small lift, never past your rules)"]];

  async function download(vendor) {
    const token = await A.sessionToken();
    const res = await fetch("/api/admin/inventory/reorder.csv?vendor=" + encodeURIComponent(vendor),
      { headers: { Authorization: "Bearer " + token } });
    if (!res.ok) throw new Error(res.statusText);
    const url = URL.createObjectURL(await res.blob());
    const a = el("a", { href: url, download: "reorder-" + (vendor || "no-vendor") + ".csv" });
    document.body.appendChild(a);
    a.click();
    a.remove();
    URL.revokeObjectURL(url);
  }

  function range(v) {
    if (!v.stockout_p50) return v.on_hand > 0 ? "beyond the forecast" : "out of stock";
    return v.stockout_p50 + " (" + (v.stockout_p10 || "?") + " – " + (v.stockout_p90 || "later") + ")";
  }

  function vendorBlock(vendor, rows) {
    const button = el("button", { type: "button", class: "secondary", text: "Download CSV" });
    button.addEventListener("click", function () {
      download(vendor).catch(function (err) { button.after(el("span", { class: "error", role: "alert", text: " " + err.message })); });
    });
    return el("div", { class: "vendor", "data-vendor": vendor },
      el("h3", {}, (vendor || "No vendor") + " ", button),
      el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {},
          el("th", { scope: "col", text: "Variant" }), el("th", { scope: "col", class: "num", text: "On hand" }),
          el("th", { scope: "col", class: "num", text: "Days of cover" }), el("th", { scope: "col", text: "Stock-out (80% range)" }),
          el("th", { scope: "col", class: "num", text: "Reorder point" }), el("th", { scope: "col", class: "num", text: "Order" }))),
        el("tbody", {}, rows.map(function (v) {
          return el("tr", { "data-variant": String(v.variant_shopify_id) },
            el("th", { scope: "row" }, v.title + ({ product_prior: " (product's forecast)", category_prior: " (category's forecast)" }[v.basis] || ""), announced(v), locations(v)),
            el("td", { class: "num", text: count(v.on_hand) }), el("td", { class: "num", text: String(v.days_of_cover) }),
            el("td", { text: range(v) }), el("td", { class: "num", text: count(v.reorder_point) }),
            el("td", { class: "num" }, el("span", { class: "badge " + (v.alert ? "critical" : ""), text: count(v.suggested_order) })));
        })))));
  }

  function locations(v) {
    if (!v.locations || !v.locations.length) return null;
    return el("ul", { class: "small muted locations" }, v.locations.map(function (l) {
      return el("li", { "data-location": String(l.location_id), class: l.alert ? "error" : "" },
        "Location " + l.location_id + ": " + count(l.on_hand) + " on hand, " + l.days_of_cover + " days of cover" +
        (l.suggested_order ? ", order " + count(l.suggested_order) : ""));
    }));
  }

  function announced(v) {
    if (!v.alert_since) return null;
    const how = [v.alert_emailed ? "e-mailed" : null, v.alert_flow ? "sent to Flow" : null].filter(Boolean);
    return el("div", { class: "small muted alert-since", text: "Alert since " + v.alert_since + (how.length ? " (" + how.join(", ") + ")" : "") });
  }

  function switches(prefs) {
    const status = el("span", { class: "small muted", role: "status" });
    const form = el("form", { class: "inventory-switches" }, SWITCHES.map(function (s) {
      return el("label", { class: "row" }, el("input", { type: "checkbox", name: s[0], checked: prefs[s[0]] ? "" : null }), " " + s[1]);
    }), status);
    form.addEventListener("change", function () {
      const body = {};
      SWITCHES.forEach(function (s) { body[s[0]] = form.elements[s[0]].checked; });
      status.textContent = "Saving\u2026";
      api("/api/admin/inventory/preferences", { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
        .then(function () { status.textContent = "Saved."; })
        .catch(function (err) { status.textContent = "Not saved: " + err.message; });
    });
    return form;
  }

  function render(body) {
    const toOrder = body.variants.filter(function (v) { return v.suggested_order > 0 || v.alert; });
    const parts = [el("p", { class: "verdict", text: count(body.alerts) + " variants will run out before a restock ordered in the review period could arrive." }),
      switches(body.preferences || {})];
    if (!toOrder.length) parts.push(el("p", { class: "muted", text: "Nothing to order now." }));
    const vendors = {};
    toOrder.forEach(function (v) { (vendors[v.vendor] = vendors[v.vendor] || []).push(v); });
    Object.keys(vendors).sort().forEach(function (k) { parts.push(vendorBlock(k, vendors[k])); });
    box.replaceChildren.apply(box, parts);
    box.closest(".card").removeAttribute("aria-busy");
  }

  function backInStock(body) {
    const t = body.totals;
    const rate = t.conversion_rate === null ? "no messages yet" : (100 * t.conversion_rate).toFixed(1) + "% bought";
    const section = el("div", { class: "back-in-stock" },
      el("h3", { text: "Back in stock" }),
      el("p", { class: "verdict", text: count(t.waiting) + " shoppers waiting; " + count(t.notified) + " told, " +
        count(t.converted) + " bought (" + rate + ")." }));
    if (body.variants.length) {
      section.append(el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {},
          el("th", { scope: "col", text: "Variant" }), el("th", { scope: "col", class: "num", text: "Waiting" }),
          el("th", { scope: "col", class: "num", text: "Told" }), el("th", { scope: "col", class: "num", text: "Bought" }),
          el("th", { scope: "col", class: "num", text: "Conversion" }))),
        el("tbody", {}, body.variants.map(function (v) {
          return el("tr", { "data-back-in-stock": String(v.variant_id) },
            el("th", { scope: "row", text: v.title }), el("td", { class: "num", text: count(v.waiting) }),
            el("td", { class: "num", text: count(v.notified) }), el("td", { class: "num", text: count(v.converted) }),
            el("td", { class: "num", text: v.conversion_rate === null ? "–" : (100 * v.conversion_rate).toFixed(1) + "%" }));
        })))));
    }
    box.append(section);
  }

  api("/api/admin/inventory").then(render).then(function () { return api("/api/admin/inventory/back-in-stock"); })
    .then(backInStock).catch(function (err) {
    box.replaceChildren(el("p", { class: "error", role: "alert", text: "Could not load the reorder list: " + err.message }));
  });

  // --- Forecast accuracy: a chart of RMSSE per forecast week (Attune vs naive) and the table beside it ------
  const acc = document.getElementById("forecast-accuracy-body");
  function fixed(x) { return x === null || x === undefined ? "\u2013" : Number(x).toFixed(2); }
  function accuracyChart(weeks) {
    const W = 520, H = 180, left = 34, bottom = 22, top = 8;
    const max = Math.max.apply(null, weeks.map(function (w) { return Math.max(w.rmsse, w.rmsse_naive); }).concat([1]));
    const gw = (W - left) / weeks.length, bw = Math.max(Math.min(gw / 2 - 3, 28), 2);
    const y = function (v) { return top + (H - top - bottom) * (1 - v / max); };
    const chart = svg("svg", { class: "daily-chart", id: "accuracy-chart", viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
      "aria-label": "RMSSE of each week's forecasts and of the naive forecast; the table beside lists the numbers" },
      svg("text", { x: 0, y: y(max) + 4, text: max.toFixed(1) }), svg("text", { x: 0, y: y(0), text: "0" }));
    weeks.forEach(function (w, i) {
      const x = left + i * gw + 2;
      chart.appendChild(svg("g", { "data-origin": w.origin }, svg("title", { text: w.origin + ": forecast " + fixed(w.rmsse) + ", naive " + fixed(w.rmsse_naive) }),
        svg("rect", { x: x, width: bw, y: y(w.rmsse), height: y(0) - y(w.rmsse), "data-series": "forecast", fill: "var(--treat)" }),
        svg("rect", { x: x + bw + 1, width: bw, y: y(w.rmsse_naive), height: y(0) - y(w.rmsse_naive), "data-series": "naive", fill: "var(--holdout)" }),
        svg("text", { x: x, y: H - 6, text: w.origin.slice(5) })));
    });
    return el("figure", {}, chart, el("div", { class: "legend" }, el("span", {}, el("span", { class: "swatch", "data-tone": "treat" }), "Attune's forecast"),
      el("span", {}, el("span", { class: "swatch", "data-tone": "holdout" }), "Naive (last day repeated)")));
  }
  function accuracyTable(weeks, overall) {
    const head = ["Week from", "Variants", "Days", "Sold", "Forecast", "MAE", "MAE naive", "RMSSE", "RMSSE naive"];
    function cells(w) {
      return [count(w.items), String(w.days), fixed(w.sold), fixed(w.forecast), fixed(w.mae), fixed(w.mae_naive), fixed(w.rmsse), fixed(w.rmsse_naive)]
        .map(function (t) { return el("td", { class: "num", text: t }); });
    }
    return el("div", { class: "table-wrap" }, el("table", { id: "accuracy-table" },
      el("thead", {}, el("tr", {}, head.map(function (h, i) { return el("th", { scope: "col", class: i ? "num" : "", text: h }); }))),
      el("tbody", {}, weeks.slice().reverse().map(function (w) { return el("tr", { "data-origin": w.origin }, el("th", { scope: "row", text: w.origin }), cells(w)); })),
      el("tfoot", {}, el("tr", { "data-origin": "all" }, el("th", { scope: "row", text: "All weeks" }), cells(overall)))));
  }
  if (acc) {
    api("/api/admin/inventory/accuracy").then(function (body) {
      const card = acc.closest(".card");
      if (!body.overall) {
        acc.replaceChildren(el("p", { class: "muted", text: "No forecast has met its sales yet: the first weekly forecasts are scored from the day after they are made." }));
      } else {
        const better = body.overall.rmsse < body.overall.rmsse_naive;
        acc.replaceChildren(el("p", { class: "verdict", text: "Over the last " + body.weeks + " weeks the forecasts' RMSSE is " + fixed(body.overall.rmsse) +
          " against naive's " + fixed(body.overall.rmsse_naive) + (better ? ": better than repeating the last day." : ": not better than repeating the last day yet.") }),
        el("div", { class: "daily" }, accuracyChart(body.origins), accuracyTable(body.origins, body.overall)));
      }
      card.removeAttribute("aria-busy");
    }).catch(function (err) {
      acc.replaceChildren(el("p", { class: "error", role: "alert", text: "Could not load the forecast accuracy: " + err.message }));
    });
  }
})();
