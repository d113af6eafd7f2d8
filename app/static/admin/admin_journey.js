/* Attune embedded admin: shoppers' journey stages (GET /api/admin/journey). Loaded after admin.js, whose helpers
   it uses through window.attune. A text summary, the stage chart (inline SVG, every bar labelled with its stage
   and count) and the same figures as tables: shoppers per stage and the most common moves. */
(function () {
  "use strict";
  const A = window.attune;
  const box = document.getElementById("journey-body");
  if (!A || !box) return;
  const el = A.el, api = A.api, count = A.count;

  function chart(svgText) {
    const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const svg = doc.documentElement;
    return svg && svg.nodeName === "svg" ? document.importNode(svg, true) : el("span");
  }

  function render(body) {
    const stages = el("table", { class: "groups" },
      el("caption", { text: "Shoppers per stage now" }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Stage" }), el("th", { scope: "col", class: "num", text: "Shoppers" }))),
      el("tbody", {}, body.stages.map(function (s) {
        return el("tr", { "data-stage": s.stage }, el("th", { scope: "row", text: s.label }), el("td", { class: "num", text: count(s.count) }));
      })));
    const moves = body.flows.length ? el("table", { class: "groups" },
      el("caption", { text: "Moves between stages in the last " + body.days + " days" }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "From" }), el("th", { scope: "col", text: "To" }),
        el("th", { scope: "col", class: "num", text: "Shoppers" }))),
      el("tbody", {}, body.flows.map(function (f) {
        return el("tr", {}, el("td", { text: f.from_label }), el("td", { text: f.to_label }), el("td", { class: "num", text: count(f.count) }));
      }))) : el("p", { class: "muted", text: "No moves between stages in the last " + body.days + " days." });
    box.replaceChildren(el("p", { class: "verdict", text: body.summary }), chart(body.chart_svg),
      el("div", { class: "table-wrap" }, stages), el("div", { class: "table-wrap" }, moves));
    box.closest(".card").removeAttribute("aria-busy");
  }

  api("/api/admin/journey?days=30").then(render).catch(function (err) {
    box.replaceChildren(el("p", { class: "error", role: "alert", text: "Could not load journey stages: " + err.message }));
  });
})();
