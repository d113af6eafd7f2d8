/* Attune's control room (the admin's home): the success table against the global holdout, its chart (inline SVG,
   with a text summary and the table as its data), the agents' cards with their settings, the activity feed and
   the setup guide. Every word and number comes from /api/admin/control-room in the shop's language. */
(function () {
  "use strict";
  const A = window.attune;
  if (!A) return;
  const el = A.el, svg = A.svg, api = A.api;
  const params = new URLSearchParams(window.location.search);
  const LOCALE = params.get("locale") || (navigator.language || "en");
  const section = document.getElementById("control-room");
  const body = document.getElementById("control-room-body");
  let L = {};

  function q(path) { return path + (path.indexOf("?") < 0 ? "?" : "&") + "locale=" + encodeURIComponent(LOCALE); }
  function badge(text, tone) { return el("s-badge", { class: "badge " + (tone || ""), tone: tone || null, text: text }); }

  function table(data) {
    const head = el("tr", null, [L.metric, L.treated, L.holdout, L.difference, L.interval, L.traditional, L.with_agents]
      .map(function (t) { return el("th", { scope: "col", text: t }); }));
    const rows = data.rows.map(function (r) {
      const t = r.text;
      return el("tr", { "data-metric": r.metric },
        el("th", { scope: "row", text: t.label }),
        el("td", { class: "num" }, el("span", { "data-value": "treated", text: t.treated }), el("div", { class: "small muted", text: t.treated_customers })),
        el("td", { class: "num" }, el("span", { "data-value": "holdout", text: t.holdout }), el("div", { class: "small muted", text: t.holdout_customers })),
        el("td", { class: "num", "data-value": "difference", text: t.difference },
          r.significant ? el("span", { class: "visually-hidden", text: " *" }) : null),
        el("td", { class: "num", "data-value": "interval", text: t.interval }),
        el("td", { class: "reference", title: r.references.source, text: r.references.traditional }),
        el("td", { class: "reference", title: r.references.source, text: r.references.with_agents },
          el("div", { class: "small muted", text: r.references.source })));
    });
    return el("div", { class: "table-wrap" }, el("table", { id: "success-table" },
      el("caption", { class: "visually-hidden", text: L.title }), el("thead", null, head), el("tbody", null, rows)));
  }

  function chart(data) {
    // treated as solid bars, holdout as hatched bars, each labelled with its value: never colour alone
    const rates = data.rows.filter(function (r) { return r.rate && r.treated.value !== null; });
    const W = 760, rowH = 34, left = 230, H = rates.length * rowH + 16;
    const max = Math.max.apply(null, rates.map(function (r) { return Math.max(r.treated.value || 0, r.holdout.value || 0); }).concat([0.01]));
    const x = function (v) { return left + (W - left - 190) * (v || 0) / max; };
    const summary = rates.map(function (r) { return r.text.label + ": " + r.text.treated + " / " + r.text.holdout; }).join("; ");
    const g = svg("svg", { class: "cr-chart", viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
      "aria-labelledby": "cr-chart-title cr-chart-desc" },
      svg("title", { id: "cr-chart-title", text: L.chart }), svg("desc", { id: "cr-chart-desc", text: summary }),
      svg("defs", null, svg("pattern", { id: "cr-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
        svg("rect", { width: 6, height: 6, fill: "#fff" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#616161", "stroke-width": 3 }))));
    rates.forEach(function (r, i) {
      const y = 8 + i * rowH;
      g.appendChild(svg("text", { x: 0, y: y + 18, class: "cr-label", text: r.text.label }));
      g.appendChild(svg("rect", { x: left, y: y, width: Math.max(1, x(r.treated.value) - left), height: 12, class: "cr-treated" }));
      g.appendChild(svg("text", { x: x(r.treated.value) + 4, y: y + 10, class: "cr-value", text: L.treated + " " + r.text.treated }));
      g.appendChild(svg("rect", { x: left, y: y + 14, width: Math.max(1, x(r.holdout.value) - left), height: 12, fill: "url(#cr-hatch)", stroke: "#616161" }));
      g.appendChild(svg("text", { x: x(r.holdout.value) + 4, y: y + 24, class: "cr-value", text: L.holdout + " " + r.text.holdout }));
    });
    return el("figure", { class: "cr-figure" }, g, el("figcaption", { class: "small muted", id: "cr-summary", text: summary }));
  }

  function settingsForm(card) {
    const s = card.settings;
    const id = function (f) { return "cr-" + card.agent + "-" + f; };
    const field = function (name, labelText, input) {
      return el("label", { for: id(name) }, labelText, input, el("span", { class: "field-error small error", "data-error-for": name, role: "alert" }));
    };
    const chans = ["email", "sms", "push", "onsite", "flow"];
    const form = el("form", { class: "cr-settings", "data-agent": card.agent, novalidate: true },
      el("label", { class: "inline" }, el("input", { type: "checkbox", name: "enabled", id: id("enabled"), checked: s.enabled }), " " + L.enabled),
      el("fieldset", null, el("legend", { text: L.channels }), chans.map(function (c) {
        return el("label", { class: "inline" }, el("input", { type: "checkbox", name: "channels", value: c, checked: s.channels.indexOf(c) >= 0 }), " " + c);
      })),
      field("holdout_share", L.holdout_share + " (%)", el("input", { id: id("holdout_share"), name: "holdout_share", inputmode: "decimal", value: String(Math.round(s.holdout_share * 1000) / 10), size: 5 })),
      field("weekly_budget", L.weekly_budget, el("input", { id: id("weekly_budget"), name: "weekly_budget", inputmode: "numeric", value: s.weekly_budget === null ? "" : String(s.weekly_budget), placeholder: L.no_budget, size: 12 })),
      field("quiet_hours", L.quiet_hours, el("input", { id: id("quiet_hours"), name: "quiet_hours", value: s.quiet_hours || "", placeholder: "08:00-21:00", size: 12 })),
      el("div", { class: "row" }, el("button", { type: "submit", class: "btn", text: L.save }), el("span", { class: "small muted", "data-saved": "", role: "status" })));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      form.querySelectorAll("[data-error-for]").forEach(function (n) { n.textContent = ""; });
      form.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
      const share = form.elements.holdout_share.value.trim();
      const budget = form.elements.weekly_budget.value.trim();
      const hours = form.elements.quiet_hours.value.trim();
      const change = {
        enabled: form.elements.enabled.checked,
        channels: Array.prototype.filter.call(form.querySelectorAll("input[name=channels]"), function (i) { return i.checked; }).map(function (i) { return i.value; }),
        holdout_share: share === "" || isNaN(Number(share)) ? share : Number(share) / 100,
        weekly_budget: budget === "" ? null : (isNaN(Number(budget)) ? budget : Number(budget)),
        quiet_hours: hours === "" ? null : hours,
      };
      fetchSave(card.agent, change).then(function () {
        form.querySelector("[data-saved]").textContent = L.saved;
      }).catch(function (err) {
        const name = err.field || "holdout_share";
        const input = form.elements[name];
        if (input && input.setAttribute) { input.setAttribute("aria-invalid", "true"); input.focus(); }
        const slot = form.querySelector("[data-error-for=" + name + "]") || form.querySelector("[data-saved]");
        slot.textContent = err.message;
      });
    });
    return form;
  }

  async function fetchSave(agent, change) {
    const token = await A.sessionToken();
    const res = await fetch(q("/api/admin/agents/" + encodeURIComponent(agent) + "/settings"), {
      method: "PUT", headers: { "Content-Type": "application/json", Authorization: "Bearer " + token }, body: JSON.stringify(change) });
    const out = await res.json().catch(function () { return {}; });
    if (!res.ok) { const e = new Error(out.message || res.statusText); e.field = out.field; throw e; }
    return out;
  }

  function cards(list) {
    return el("div", { class: "cr-cards" }, list.map(function (c) {
      const lift = c.lift;
      return el("s-section", { class: "card cr-card", "data-agent": c.agent, "aria-labelledby": "cr-card-" + c.agent },
        el("h3", { id: "cr-card-" + c.agent }, c.label + " ", badge(L.status + ": " + c.status_text, c.status === "on" ? "success" : "")),
        el("dl", { class: "cr-facts" },
          el("dt", { text: L.today }), el("dd", { "data-fact": "today", text: c.today_text }),
          el("dt", { text: L.volume }), el("dd", { "data-fact": "volume", text: c.volume_text }),
          el("dt", { text: L.lift }), el("dd", { "data-fact": "lift", text: lift ? lift.text + (lift.simulated ? " (" + L.simulated_short + ")" : "") +
            (lift.shrunk ? " · " + L.shrunk + ": " + lift.shrunk.text : "") : L.collecting })),
        el("details", null, el("summary", { text: L.settings }), settingsForm(c)));
    }));
  }

  function setup(steps) {
    return el("ol", { class: "cr-setup" }, steps.map(function (s) {
      return el("li", { "data-step": s.step }, el("span", { text: s.label }), " ", badge(s.done ? L.done : L.todo, s.done ? "success" : "warning"));
    }));
  }

  function feed(agents) {
    const agentSel = el("select", { id: "cr-feed-agent", name: "agent" }, el("option", { value: "", text: L.all_agents }),
      agents.map(function (c) { return el("option", { value: c.agent, text: c.label }); }));
    const actionSel = el("select", { id: "cr-feed-action", name: "action" }, el("option", { value: "", text: L.all_actions }),
      ["send", "defer", "hold_out", "suppress"].map(function (a) { return el("option", { value: a, text: A.label(a) }); }));
    const list = el("ol", { id: "cr-feed", class: "cr-feed", "aria-live": "polite" });
    const form = el("form", { class: "filters row" }, el("label", { for: "cr-feed-agent", text: L.agents }), agentSel,
      el("label", { for: "cr-feed-action", text: L.status }), actionSel, el("button", { type: "submit", class: "btn", text: L.filter }));
    function load() {
      const p = new URLSearchParams({ per_page: "10" });
      if (agentSel.value) p.set("agent", agentSel.value);
      if (actionSel.value) p.set("action", actionSel.value);
      api("/api/admin/activity?" + p.toString()).then(function (b) {
        list.replaceChildren.apply(list, b.decisions.map(function (d) {
          return el("li", { "data-agent": d.agent, "data-action": d.action }, el("strong", { text: A.label(d.agent) }), " · ",
            A.label(d.action), " · ", A.when(d.decided_at), el("div", { class: "small muted", text: d.reason }));
        }));
      });
    }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
    load();
    return el("div", null, form, list);
  }

  function render(data) {
    L = data.labels;
    section.setAttribute("lang", data.locale);
    document.getElementById("control-room-title").textContent = L.title;
    document.getElementById("control-room-intro").textContent = L.intro;
    const parts = [];
    if (data.table) {
      data.table.warnings.forEach(function (w) { parts.push(el("s-banner", { class: "banner", tone: "critical", role: "alert", text: L.srm + ": " + w })); });
      parts.push(table(data.table), el("p", { class: "small muted", text: L.references_note }));
      const rev = data.table.revenue.text;
      parts.push(el("p", { id: "cr-revenue" }, el("strong", { text: L.revenue + ": " }), rev.total + (rev.interval ? " (" + rev.interval + ")" : "")));
      parts.push(chart(data.table));
    }
    parts.push(el("h3", { text: L.agents }));
    // the demo's lifts are simulated, the table above is the shop's own: the banner labels the cards only
    if (data.simulated) parts.push(el("s-banner", { class: "banner info", tone: "info", role: "status", id: "cr-simulated", text: L.simulated }));
    parts.push(cards(data.agents));
    parts.push(el("div", { class: "grid" },
      el("div", null, el("h3", { text: L.setup }), setup(data.setup)),
      el("div", null, el("h3", { text: L.activity }), feed(data.agents))));
    body.replaceChildren.apply(body, parts);
    section.removeAttribute("aria-busy");
  }

  api(q("/api/admin/control-room")).then(render).catch(function (err) {
    body.replaceChildren(el("p", { class: "error", text: "Could not load the control room: " + err.message }));
  });
})();
