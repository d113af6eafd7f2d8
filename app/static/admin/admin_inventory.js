/* Attune embedded admin: the Reorder section (GET /api/admin/inventory). Loaded after admin.js, whose helpers it
   uses through window.attune. What to order from each vendor, the variants predicted to run out first, and a CSV
   per vendor (GET /api/admin/inventory/reorder.csv, fetched with the session token). */
(function () {
  "use strict";
  const A = window.attune;
  const box = document.getElementById("reorder-body");
  if (!A || !box) return;
  const el = A.el, api = A.api, count = A.count;

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
            el("th", { scope: "row", text: v.title + (v.basis === "product_prior" ? " (product's forecast)" : "") }),
            el("td", { class: "num", text: count(v.on_hand) }), el("td", { class: "num", text: String(v.days_of_cover) }),
            el("td", { text: range(v) }), el("td", { class: "num", text: count(v.reorder_point) }),
            el("td", { class: "num" }, el("span", { class: "badge " + (v.alert ? "critical" : ""), text: count(v.suggested_order) })));
        })))));
  }

  function render(body) {
    const toOrder = body.variants.filter(function (v) { return v.suggested_order > 0 || v.alert; });
    const parts = [el("p", { class: "verdict", text: count(body.alerts) + " variants will run out before a restock ordered in the review period could arrive." })];
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
})();
