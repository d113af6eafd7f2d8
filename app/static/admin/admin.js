/* Attune embedded admin: vanilla JS over /api/admin/* with an App Bridge session token. No third parties. */
(function () {
  "use strict";
  const root = document.getElementById("attune-admin");
  const RETRY = root.dataset.retryHeader;
  const params = new URLSearchParams(window.location.search);
  const SVG = "http://www.w3.org/2000/svg";
  const state = { sort: "clv", dir: "desc", segment: null, selected: null };

  async function sessionToken() {
    if (window.shopify && typeof window.shopify.idToken === "function") {
      try { return await window.shopify.idToken(); } catch (e) { /* fall back below */ }
    }
    return params.get("id_token"); // the local fake Shopify passes one on the URL
  }

  async function api(path, options, retried) {
    const token = await sessionToken();
    const init = Object.assign({}, options || {});
    init.headers = Object.assign({ Authorization: "Bearer " + token }, init.headers || {});
    const res = await fetch(path, init);
    if (res.status === 401 && res.headers.get(RETRY) === "1" && !retried) { return api(path, options, true); }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {  // the status and the body go with the error: a 422 names its field (admin_support_channels.js)
      const err = new Error((body && body.message) || res.statusText);
      err.status = res.status; err.body = body;
      throw err;
    }
    return body;
  }
  window.attune = { api: api, sessionToken: sessionToken, el: el, svg: svg, when: when, label: label, count: count };

  // --- tiny DOM helpers ------------------------------------------------------------------------
  function el(tag, attrs) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    for (let i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    setAttrs(node, attrs);
    for (let i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }
  function setAttrs(node, attrs) {
    Object.keys(attrs || {}).forEach(function (k) {
      const v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    });
  }
  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  function fill(id, content) {
    const box = document.getElementById(id);
    box.replaceChildren();
    append(box, content);
    const card = box.closest(".card");
    if (card) card.removeAttribute("aria-busy");
  }
  function failed(id, what) {
    return function (err) { fill(id, el("p", { class: "error", text: "Could not load " + what + ": " + err.message })); };
  }

  // --- formatting --------------------------------------------------------------------------------
  const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  function count(n) { return n === null || n === undefined ? "—" : nf.format(n); }
  function pct(x, digits) { return x === null || x === undefined ? "—" : (x * 100).toFixed(digits === undefined ? 1 : digits) + "%"; }
  function signedPct(x) { return x === null || x === undefined ? "—" : (x >= 0 ? "+" : "") + (x * 100).toFixed(1) + "%"; }
  function pts(x) { return (x >= 0 ? "+" : "") + (x * 100).toFixed(1) + " pts"; }
  function amount(x) { return x === null || x === undefined ? "—" : money.format(x); }
  function spent(x, currency) {
    if (x === null || x === undefined) return "—";
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "USD" }).format(Number(x));
    } catch (e) { return amount(Number(x)) + " " + (currency || ""); }  // a code Intl does not know
  }
  function signedAmount(x) { return (x >= 0 ? "+" : "−") + money.format(Math.abs(x)); }
  function label(s) { return String(s || "").replace(/_/g, " ").replace(/^./, function (c) { return c.toUpperCase(); }); }
  function when(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return d.toLocaleDateString(undefined, { day: "numeric", month: "short" }) + " " +
      d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }
  const STATUS_TONE = { positive: "success", negative: "critical", no_effect: "info", collecting: "warning",
    no_holdout: "critical", no_data: "", no_treatment: "warning" };
  const STATUS_TEXT = { positive: "Lift", negative: "Hurting", no_effect: "No detectable lift", collecting: "Collecting",
    no_holdout: "No holdout", no_data: "No data", no_treatment: "No treatment" };

  // --- shop --------------------------------------------------------------------------------------
  function loadShop() {
    return api("/api/admin/shop").then(function (shop) {
      const line = document.getElementById("shop-line");
      line.replaceChildren(shop.shop + " · ", el("span", { class: "badge " + (shop.installed ? "success" : "critical"),
        text: shop.installed ? "Installed" : "Not installed" }), " · " + shop.scopes.length + " scopes granted");
    }).catch(function (err) {
      const banner = document.getElementById("page-error");
      banner.textContent = "Could not load your shop: " + err.message;
      banner.hidden = false;
    });
  }

  // --- sync --------------------------------------------------------------------------------------
  const RESOURCES = ["products", "customers", "orders"];
  function loadSync() {
    return api("/api/admin/sync").then(function (run) {
      const counts = run.counts || {};
      let done = run.status === "done" ? RESOURCES.length : Math.max(RESOURCES.indexOf(run.resource), 0);
      if (run.status === "never") done = 0;
      const share = done / RESOURCES.length;
      const tone = { done: "success", running: "info", failed: "critical", never: "warning" }[run.status] || "info";
      const text = { done: "Backfill complete", running: "Backfill running", failed: "Backfill failed", never: "Not synced yet" }[run.status] || label(run.status);
      const bar = svg("svg", { class: "progress-bar", width: "100%", height: 8, role: "img",
        "aria-label": "Backfill " + Math.round(share * 100) + "% done" },
        svg("rect", { width: "100%", height: 8, rx: 4, fill: "#e3e3e3" }),
        svg("rect", { width: (share * 100) + "%", height: 8, rx: 4, fill: run.status === "failed" ? "#c70a24" : "#29845a" }));
      const facts = el("dl", { class: "facts" }, RESOURCES.map(function (r) {
        return [el("dt", { text: label(r) }), el("dd", { text: count(counts[r] || 0) + " synced" +
          (run.status === "running" && run.resource === r ? " (in progress)" : "") })];
      }), el("dt", { text: "Started" }), el("dd", { text: when(run.started_at) }),
        el("dt", { text: "Finished" }), el("dd", { text: when(run.finished_at) }));
      const button = el("button", { type: "button", class: "btn", text: "Sync now", onclick: function () {
        button.disabled = true;
        api("/api/admin/sync", { method: "POST" }).then(function () { button.textContent = "Queued"; setTimeout(loadSync, 1500); })
          .catch(function (err) { button.disabled = false; button.textContent = "Sync now"; alertIn("sync-body", err); });
      } });
      fill("sync-body", [el("p", {}, el("span", { class: "badge " + tone, text: text }), run.kind ? " · " + label(run.kind) + " sync" : ""),
        bar, facts, run.error ? el("p", { class: "error", text: run.error }) : null, el("p", { class: "small" }, button)]);
      if (run.status === "running") setTimeout(loadSync, 2000);
    }).catch(failed("sync-body", "sync status"));
  }
  function alertIn(id, err) { document.getElementById(id).appendChild(el("p", { class: "error", role: "alert", text: err.message })); }

  // --- lift --------------------------------------------------------------------------------------
  function forest(rows, format, title) {
    // One row per interval: a CI bar around the estimate, with the zero line; rows without data say so.
    const W = 500, left = 112, right = 24, rowH = 26, top = 8, axisH = 22;
    const H = top + rows.length * rowH + axisH;
    const vals = [0];
    rows.forEach(function (r) { if (r.ci) vals.push(r.ci.low, r.ci.high); });
    let lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    const span = Math.max(hi - lo, 1e-9), pad = span * 0.08;
    lo -= pad; hi += pad;
    const x = function (v) { return left + (v - lo) / (hi - lo) * (W - left - right); };
    const g = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", "aria-label": title, class: "forest" },
      svg("title", { text: title }));
    g.appendChild(svg("line", { x1: x(0), x2: x(0), y1: top - 4, y2: H - axisH + 2, stroke: "#8a8a8a", "stroke-dasharray": "3 3" }));
    rows.forEach(function (r, i) {
      const y = top + i * rowH + rowH / 2;
      g.appendChild(svg("text", { x: 0, y: y + 4, class: "label", text: r.label }));
      if (!r.ci) { g.appendChild(svg("text", { x: left, y: y + 4, text: "not enough data" })); return; }
      const color = r.ci.low > 0 ? "#29845a" : r.ci.high < 0 ? "#c70a24" : "#005bd3";
      const item = svg("g", {}, svg("title", { text: r.label + ": " + format(r.ci.estimate) + " (95% CI " + format(r.ci.low) + " to " + format(r.ci.high) + ")" }));
      item.appendChild(svg("line", { x1: x(r.ci.low), x2: x(r.ci.high), y1: y, y2: y, stroke: color, "stroke-width": 4, "stroke-linecap": "round", opacity: 0.45 }));
      item.appendChild(svg("circle", { cx: x(r.ci.estimate), cy: y, r: 5, fill: color }));
      g.appendChild(item);
    });
    const ay = H - axisH + 14;
    [lo + pad, 0, hi - pad].forEach(function (v, i) {
      if (i !== 1 && Math.abs(v) < span * 0.12) return;
      g.appendChild(svg("text", { x: x(v), y: ay, "text-anchor": "middle", text: format(v) }));
    });
    return g;
  }

  function groupTable(a) {
    const t = a.treatment, h = a.holdout, c = a.conversion, r = a.revenue_per_shopper;
    const row = function (name, swatch, grp) {
      return el("tr", {}, el("th", { scope: "row" }, el("span", { class: "swatch", "aria-hidden": "true", "data-tone": swatch }), name),
        el("td", { class: "num", text: count(grp.shoppers) }), el("td", { class: "num", text: count(grp.converters) }),
        el("td", { class: "num", text: pct(grp.conversion_rate, 2) }), el("td", { class: "num", text: amount(grp.revenue_per_shopper) }));
    };
    const ci = function (iv, fmt) { return iv ? fmt(iv.estimate) + " [" + fmt(iv.low) + ", " + fmt(iv.high) + "]" : "—"; };
    return el("table", { class: "groups" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Group" }), el("th", { scope: "col", class: "num", text: "Shoppers" }),
        el("th", { scope: "col", class: "num", text: "Bought" }), el("th", { scope: "col", class: "num", text: "Conversion" }),
        el("th", { scope: "col", class: "num", text: "Revenue / shopper" }))),
      el("tbody", {}, row("Saw the agent", "treat", t), row("Holdout", "holdout", h),
        el("tr", { class: "lift-row" }, el("th", { scope: "row", text: "Lift (95% CI)" }), el("td", {}), el("td", {}),
          el("td", { class: "num", text: ci(c.absolute, pts) }), el("td", { class: "num", text: ci(r.absolute, signedAmount) })),
        el("tr", {}, el("th", { scope: "row", text: "Relative" }), el("td", {}), el("td", {}),
          el("td", { class: "num", text: ci(c.relative, signedPct) }), el("td", { class: "num", text: ci(r.relative, signedPct) })),
        el("tr", {}, el("th", { scope: "row", text: "p-value" }), el("td", {}), el("td", {}),
          el("td", { class: "num", text: c.p_value === null ? "—" : c.p_value.toPrecision(2) }),
          el("td", { class: "num", text: r.p_value === null ? "—" : r.p_value.toPrecision(2) }))));
  }

  // an acting agent's placements are its channels (the one the orchestrator would use, for both arms)
  const CHANNEL_LABEL = { email: "By e-mail", sms: "By SMS", push: "By web push", onsite: "On-site", flow: "Shopify Flow",
    none: "No usable channel" };
  function placementLabel(p) {
    if (!("channel" in p)) return label(p.placement);
    return p.channel ? (CHANNEL_LABEL[p.channel] || label(p.channel)) : "Channel not recorded";
  }

  function agentBlock(a) {
    const rows = [{ label: "All placements", ci: a.conversion.absolute }].concat(a.placements.map(function (p) {
      return { label: placementLabel(p), ci: p.conversion.absolute };
    }));
    const revRows = [{ label: "All placements", ci: a.revenue_per_shopper.absolute }].concat(a.placements.map(function (p) {
      return { label: placementLabel(p), ci: p.revenue_per_shopper.absolute };
    }));
    const status = a.verdict.status;
    return el("article", { class: "agent", "data-agent": a.agent, "data-status": status },
      el("div", { class: "agent-head" }, el("h3", { text: label(a.agent) }),
        el("span", { class: "badge " + (STATUS_TONE[status] || ""), text: STATUS_TEXT[status] || label(status) }),
        el("span", { class: "muted small", text: "holdout " + pct(a.holdout_share, 0) + " · " + count(a.open_windows) + " shoppers still inside their window" })),
      el("p", { class: "verdict", text: a.verdict.text }),
      el("div", { class: "table-wrap" }, groupTable(a)),
      el("div", { class: "lift-charts" },
        el("figure", {}, el("figcaption", { class: "small muted", text: "Conversion lift, points (95% CI)" }),
          forest(rows, pts, "Conversion lift of " + label(a.agent) + " per placement with 95% confidence intervals")),
        el("figure", {}, el("figcaption", { class: "small muted", text: "Revenue per exposed shopper, difference (95% CI)" }),
          forest(revRows, signedAmount, "Revenue per shopper lift of " + label(a.agent) + " with 95% confidence intervals"))),
      el("div", { class: "legend" }, el("span", {}, el("span", { class: "swatch", "data-tone": "pos" }), "interval above zero: lift"),
        el("span", {}, el("span", { class: "swatch", "data-tone": "mid" }), "interval crosses zero: not shown yet"),
        el("span", {}, el("span", { class: "swatch", "data-tone": "neg" }), "interval below zero: hurting")));
  }

  function loadLift() {
    const days = document.getElementById("window-days").value;
    document.getElementById("lift").setAttribute("aria-busy", "true");
    return api("/api/admin/lift?window_days=" + encodeURIComponent(days)).then(function (body) {
      fill("lift-body", body.agents.length ? body.agents.map(agentBlock)
        : el("p", { class: "muted", text: "No agent has served a list in the last " + body.days + " days yet." }));
      fill("holdout-body", body.holdout_policies.length ? holdoutList(body.holdout_policies)
        : el("p", { class: "muted", text: "No agent has a holdout yet." }));
    }).catch(function (err) { failed("lift-body", "lift")(err); failed("holdout-body", "holdout shares")(err); });
  }

  function holdoutList(policies) {
    return el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Agent" }),
      el("th", { scope: "col", class: "num", text: "Held out" }), el("th", { scope: "col", text: "" }), el("th", { scope: "col", text: "Set" }))),
    el("tbody", {}, policies.map(function (p) {
      return el("tr", {}, el("td", { text: label(p.agent) }), el("td", { class: "num", text: pct(p.share, 0) }),
        el("td", {}, svg("svg", { width: 120, height: 10, role: "img", "aria-label": pct(p.share, 0) + " of shoppers held out" },
          svg("rect", { width: 120, height: 10, rx: 3, fill: "#cfe3ff" }),
          svg("rect", { width: Math.max(120 * p.share, 1), height: 10, rx: 3, fill: "#8a8a8a" }))),
        el("td", { class: "muted", text: p.default ? "default" : when(p.updated_at) }));
    })), el("caption", { class: "visually-hidden", text: "Share of shoppers each agent holds out (read-only)" }));
  }

  // --- segments ----------------------------------------------------------------------------------
  function segmentChart(rfm) {
    const entries = Object.keys(rfm).map(function (k) { return [k, rfm[k]]; }).sort(function (a, b) { return b[1] - a[1]; });
    const W = 460, left = 150, rowH = 24, right = 48, H = entries.length * rowH + 4;
    const max = Math.max.apply(null, entries.map(function (e) { return e[1]; }).concat([1]));
    const g = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", id: "segment-chart",
      "aria-label": "Customers per RFM segment: " + entries.map(function (e) { return label(e[0]) + " " + e[1]; }).join(", ") });
    entries.forEach(function (e, i) {
      const y = i * rowH + 2, w = Math.max((W - left - right) * e[1] / max, 2);
      g.appendChild(svg("g", { "data-segment": e[0] }, svg("title", { text: label(e[0]) + ": " + e[1] + " customers" }),
        svg("text", { x: 0, y: y + 15, class: "label", text: label(e[0]) }),
        svg("rect", { x: left, y: y + 4, width: w, height: rowH - 8, rx: 3, fill: e[0] === "unscored" ? "#b5b5b5" : "#005bd3" }),
        svg("text", { x: left + w + 6, y: y + 15, text: count(e[1]) })));
    });
    return g;
  }

  function loadSegments() {
    return api("/api/admin/segments").then(function (seg) {
      const chip = function (key, text, n) {
        return el("button", { type: "button", class: "chip", "aria-pressed": state.segment === key ? "true" : "false", "data-segment": key,
          onclick: function () { state.segment = state.segment === key ? null : key; loadSegments(); loadCustomers(); } },
          text + " ", el("strong", { text: count(n) }));
      };
      const rfmKeys = Object.keys(seg.rfm).filter(function (k) { return k !== "unscored"; });
      fill("segments-body", [
        el("div", { class: "chips", role: "group", "aria-label": "Filter the customer table" },
          chip("known", "Known", seg.known), chip("anonymous", "Anonymous", seg.anonymous),
          chip("high_intent", "High intent", seg.high_intent), chip("at_risk", "At risk", seg.at_risk)),
        Object.keys(seg.rfm).length ? segmentChart(seg.rfm) : el("p", { class: "muted", text: "No profiles yet." }),
        rfmKeys.length ? el("div", { class: "chips", role: "group", "aria-label": "Filter by RFM segment" },
          rfmKeys.map(function (k) { return chip(k, label(k), seg.rfm[k]); })) : null]);
    }).catch(failed("segments-body", "segments"));
  }

  // --- customers ---------------------------------------------------------------------------------
  function customerName(c) { return c.customer_id ? "Customer " + c.customer_id : "Visitor " + c.customer_key.split(":").pop().slice(0, 10); }

  function loadCustomers() {
    document.querySelectorAll("#customer-table th[aria-sort]").forEach(function (th) {
      const key = th.querySelector("button").dataset.sort;
      th.setAttribute("aria-sort", key === state.sort ? (state.dir === "asc" ? "ascending" : "descending") : "none");
    });
    document.getElementById("customers-filter").textContent = state.segment ? "Showing: " + label(state.segment) : "";
    let path = "/api/admin/customers?limit=25&sort=" + state.sort + (state.dir === "asc" ? ":asc" : "");
    if (state.segment) path += "&segment=" + encodeURIComponent(state.segment);
    return api(path).then(function (body) {
      const rows = body.customers.map(function (c) {
        const open = function () { showCustomer(c, tr); };
        const tr = el("tr", { tabindex: 0, "data-key": c.customer_key, "aria-label": "Show why for " + customerName(c),
          onclick: open, onkeydown: function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } } },
        el("td", { text: customerName(c) }), el("td", { text: c.rfm_segment ? label(c.rfm_segment) : "—" }),
        el("td", { class: "num", text: amount(c.clv) }), el("td", { class: "num", text: pct(c.intent, 0) }),
        el("td", { class: "num", text: pct(c.churn_risk, 0) }), el("td", { text: when(c.last_seen_at) }));
        return tr;
      });
      fill("customer-rows", rows.length ? rows : el("tr", {}, el("td", { colspan: 6, class: "muted", text: "No customers in this view yet." })));
      document.getElementById("customers").removeAttribute("aria-busy");
    }).catch(function (err) {
      fill("customer-rows", el("tr", {}, el("td", { colspan: 6, class: "error", text: "Could not load customers: " + err.message })));
    });
  }

  function signalBars(signals) {
    const max = Math.max.apply(null, signals.map(function (s) { return Math.abs(s.contribution) || 0; }).concat([1e-9]));
    return el("ul", {}, signals.map(function (s) {
      const w = Math.max(Math.abs(s.contribution) / max * 34, 1), up = s.contribution >= 0;
      return el("li", {}, el("span", { text: s.text || label(s.name) }),
        svg("svg", { width: 70, height: 10, role: "img", "aria-label": (up ? "raises" : "lowers") + " the score" },
          svg("line", { x1: 35, x2: 35, y1: 0, y2: 10, stroke: "#b5b5b5" }),
          svg("rect", { x: up ? 35 : 35 - w, y: 2, width: w, height: 6, rx: 2, fill: up ? "#005bd3" : "#8a8a8a" })));
    }));
  }

  const SCORES = [
    ["clv", "Customer lifetime value (52 weeks)", function (v) { return amount(v); }],
    ["intent", "Purchase intent this session", function (v) { return pct(v, 0); }],
    ["churn_risk", "Churn risk", function (v) { return pct(v, 0); }],
    ["rfm", "RFM segment", function (v) { return v; }],
    ["price_sensitivity", "Price sensitivity", function (v) { return pct(v, 0); }],
    ["affinity", "Top affinity", function (v) { return v; }],
  ];

  // the shopper's own words and choices (profile.explicit); a block shows only when it holds something
  function productTitle(p) { return p.title || "Product " + p.product_id; }
  function plural(n, one, many) { return count(n) + " " + (n === 1 ? one : many); }
  function feedbackFacts(explicit) {
    const wish = explicit.wishlist, reviews = explicit.reviews, support = explicit.support, rows = [];
    if (wish && wish.count) {
      const titles = (wish.items || []).slice(0, 3).map(productTitle);
      const more = wish.count > titles.length ? " and " + count(wish.count - titles.length) + " more" : "";
      rows.push(el("dt", { text: "Wishlist" }), el("dd", { "data-feedback": "wishlist" }, count(wish.count) + " saved" +
        (titles.length ? ": " + titles.join(", ") + more : "") + " · last " + when(wish.last_at)));
    }
    if (reviews && reviews.count) {
      const avg = reviews.average_rating;
      rows.push(el("dt", { text: "Reviews" }), el("dd", { "data-feedback": "reviews" }, plural(reviews.count, "review", "reviews") +
        (avg === null || avg === undefined ? "" : " · average " + avg.toFixed(1) + " of 5 stars")));
      if (reviews.disliked && reviews.disliked.length) {
        rows.push(el("dt", { text: "Disliked, not recommended" }), el("dd", { "data-feedback": "disliked" },
          reviews.disliked.map(function (r) { return productTitle(r) + " (" + plural(r.rating, "star", "stars") + ")"; }).join(", ")));
      }
    }
    if (support && (support.questions || support.open_escalations || support.resolved_escalations)) {
      rows.push(el("dt", { text: "Support" }), el("dd", { "data-feedback": "support" }, plural(support.questions, "question", "questions") +
        (support.last_topic ? " · last about " + label(support.last_topic).toLowerCase() : "")));
      if (support.open_escalations || support.resolved_escalations) {
        const waiting = (support.escalations || []).filter(function (e) { return e.status === "open"; })
          .map(function (e) { return label(e.topic); }).filter(function (t, i, all) { return all.indexOf(t) === i; });
        rows.push(el("dt", { text: "Escalated to you" }), el("dd", { "data-feedback": "escalations" },
          support.open_escalations ? [el("span", { class: "badge warning", text: count(support.open_escalations) + " waiting" }),
            waiting.length ? " (" + waiting.join(", ") + ")" : "", " · "] : "",
          count(support.resolved_escalations) + " resolved"));
      }
    }
    return rows.length ? el("section", { class: "feedback", "data-explicit": "", "aria-labelledby": "customer-feedback-title" },
      el("h3", { id: "customer-feedback-title", class: "small muted", text: "Feedback from the shopper" }), el("dl", { class: "facts" }, rows)) : null;
  }

  function showCustomer(c, tr) {
    document.querySelectorAll("#customer-rows tr.selected").forEach(function (r) { r.classList.remove("selected"); });
    tr.classList.add("selected");
    const box = document.getElementById("customer-detail");
    box.hidden = false;
    box.replaceChildren(el("p", { class: "muted", text: "Loading " + customerName(c) + "…" }));
    const load = c.customer_id ? api("/api/admin/customers/" + c.customer_id)
      : api("/api/admin/profile?key=" + encodeURIComponent(c.customer_key)).then(function (p) { return { profile: p }; });
    load.then(function (rec) {
      const profile = rec.profile || {};
      const derived = profile.derived || {};
      const name = [rec.first_name, rec.last_name].filter(Boolean).join(" ") || customerName(c);
      const facts = rec.id ? el("dl", { class: "facts" },
        el("dt", { text: "Email" }), el("dd", { text: rec.email || "—" }),
        el("dt", { text: "Orders" }), el("dd", { text: count(rec.orders_count) + " · " + count(rec.returns_count) + (rec.returns_count === 1 ? " return" : " returns") }),
        el("dt", { text: "Spent, net of refunds" }), el("dd", { "data-spent": "", text: spent(rec.total_spent, rec.currency) }),
        el("dt", { text: "Last order" }), el("dd", { text: when(rec.last_order_at) }),
        el("dt", { text: "Email marketing" }), el("dd", { text: label(rec.email_marketing || "unknown") }))
        : el("p", { class: "muted", text: "Anonymous visitor: " + count(profile.event_count) + " storefront events, last seen " + when(profile.last_seen_at) });
      const cards = SCORES.filter(function (s) { return derived[s[0]]; }).map(function (s) {
        const d = derived[s[0]];
        return el("div", { class: "score", "data-score": s[0] }, el("h3", { class: "small muted", text: s[1] }),
          el("div", { class: "value", text: s[2](d.value) }), el("p", { class: "small", text: d.summary || "" }),
          d.signals && d.signals.length ? [el("p", { class: "small muted", text: "Why:" }), signalBars(d.signals)] : null);
      });
      const interests = rec.id ? el("p", { class: "small", "data-interests": "" }, el("span", { class: "muted", text: "Interests: " }), "…") : null;
      if (interests) {
        api("/api/admin/customers/" + rec.id + "/interests").then(function (body) {
          interests.replaceChildren(el("span", { class: "muted", text: "Interests: " }), body.interests.length
            ? body.interests.map(function (i) { return label(i.name) + " (" + i.products_bought + " bought)"; }).join(", ") : "none shown yet");
        }).catch(function () { interests.remove(); });
      }
      box.replaceChildren(el("div", { class: "card-head row" }, el("h3", { text: name }),
        el("button", { type: "button", class: "btn plain", text: "Close", onclick: function () { box.hidden = true; tr.classList.remove("selected"); tr.focus(); } })),
      facts, interests, feedbackFacts(profile.explicit || {}), cards.length ? el("div", { class: "detail-grid" }, cards) : el("p", { class: "muted", text: "No derived scores yet." }));
      if (rec.id && window.attune.onCustomer) window.attune.onCustomer(box, rec);  // admin_actions.js: the thread
    }).catch(function (err) { box.replaceChildren(el("p", { class: "error", text: "Could not load this customer: " + err.message })); });
  }

  document.querySelectorAll("#customer-table th button[data-sort]").forEach(function (b) {
    b.addEventListener("click", function () {
      if (state.sort === b.dataset.sort) state.dir = state.dir === "desc" ? "asc" : "desc";
      else { state.sort = b.dataset.sort; state.dir = "desc"; }
      loadCustomers();
    });
  });

  // --- failed events -----------------------------------------------------------------------------
  function loadFailed() {
    return api("/api/admin/events/failed").then(function (body) {
      if (!body.events.length) { fill("failed-body", el("p", {}, el("span", { class: "badge success", text: "All clear" }), " No failed webhook events.")); return; }
      fill("failed-body", el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Topic" }),
        el("th", { scope: "col", text: "Error" }), el("th", { scope: "col", class: "num", text: "Tries" }), el("th", { scope: "col", text: "" }))),
      el("tbody", {}, body.events.map(function (ev) {
        const button = el("button", { type: "button", class: "btn", text: "Replay", "aria-label": "Replay " + ev.topic + " event " + ev.id,
          onclick: function () {
            button.disabled = true;
            api("/api/admin/events/" + ev.id + "/replay", { method: "POST" }).then(function () { button.textContent = "Queued"; })
              .catch(function (err) { button.disabled = false; button.textContent = "Retry"; button.title = err.message; });
          } });
        return el("tr", { "data-event": ev.id }, el("td", { text: ev.topic }), el("td", { class: "small", text: (ev.error || "").slice(0, 120) }),
          el("td", { class: "num", text: count(ev.attempts) }), el("td", {}, button));
      }))));
    }).catch(failed("failed-body", "failed events"));
  }

  // --- interests and merchandising ---------------------------------------------------------------
  function loadInterests() {
    return api("/api/admin/interests").then(function (body) {
      if (!body.interests.length) { fill("interests-body", el("p", { class: "muted", text: "No interests found yet: they are inferred from the catalogue and its orders, nightly and after catalogue changes." })); return; }
      fill("interests-body", el("ul", { class: "interests" }, body.interests.map(function (i) {
        return el("li", { "data-interest": i.key }, el("strong", { text: label(i.name) }), " ",
          el("span", { class: "muted small", text: count(i.size) + " products · e.g. " + i.examples.slice(0, 3).join(", ") }));
      })));
    }).catch(failed("interests-body", "interests"));
  }

  function loadRules() {
    return api("/api/admin/merchandising").then(function (body) {
      const select = document.getElementById("rule-placement");
      if (!select.options.length) {
        body.placements.excludes.forEach(function (p) { select.appendChild(el("option", { value: p, text: label(p) })); });
      }
      const rows = [];
      Object.keys(body.rules).forEach(function (placement) {
        ["pins", "excludes"].forEach(function (kind) {
          body.rules[placement][kind].forEach(function (pid) {
            const remove = el("button", { type: "button", class: "btn plain", text: "Remove", "aria-label": "Remove " + kind + " " + pid,
              onclick: function () {
                remove.disabled = true;
                api("/api/admin/merchandising/" + placement + "/" + kind + "/" + pid, { method: "DELETE" }).then(loadRules)
                  .catch(function (err) { remove.disabled = false; remove.title = err.message; });
              } });
            rows.push(el("tr", { "data-rule": placement + ":" + kind + ":" + pid }, el("td", { text: label(placement) }),
              el("td", { text: kind === "pins" ? "Pinned" : "Excluded" }), el("td", { text: body.titles[pid] || pid }), el("td", {}, remove)));
          });
        });
      });
      fill("merchandising-body", rows.length ? el("table", {}, el("tbody", {}, rows))
        : el("p", { class: "muted", text: "No pins or excludes: lists are ranked by the recommenders alone." }));
    }).catch(failed("merchandising-body", "pins and excludes"));
  }

  document.getElementById("rule-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const placement = document.getElementById("rule-placement").value;
    const kind = document.getElementById("rule-kind").value;
    const pid = document.getElementById("rule-product").value.trim();
    api("/api/admin/merchandising").then(function (body) {
      const current = (body.rules[placement] || { pins: [], excludes: [] })[kind];
      const change = {};
      change[kind] = current.concat([pid]);
      return api("/api/admin/merchandising/" + placement, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(change) });
    }).then(function () { document.getElementById("rule-product").value = ""; return loadRules(); })
      .catch(function (err) { fill("merchandising-body", el("p", { class: "error", text: "Could not save: " + err.message })); });
  });

  // --- support escalations -----------------------------------------------------------------------
  function shopperName(e) { return e.customer_id ? "Customer " + e.customer_id : "Visitor " + String(e.client_id || "").slice(0, 10); }

  function loadEscalations() {
    return api("/api/admin/support/escalations").then(function (body) {
      if (!body.escalations.length) { fill("support-body", el("p", {}, el("span", { class: "badge success", text: "All answered" }), " No support question is waiting for a person.")); return; }
      const more = body.open > body.escalations.length ? el("p", { class: "muted small", text: "Showing the " + body.escalations.length + " longest waiting of " + count(body.open) + "." }) : null;
      fill("support-body", [more, el("ul", { class: "escalations" }, body.escalations.map(function (e) {
        const noteId = "note-" + e.id;
        const note = el("textarea", { id: noteId, rows: 2, maxlength: 2000, placeholder: "Optional: what you replied" });
        const status = el("span", { class: "small", role: "status" });
        const button = el("button", { type: "submit", class: "btn", text: "Mark resolved" });
        const form = el("form", { class: "resolve", onsubmit: function (ev) {
          ev.preventDefault();
          button.disabled = true;
          status.textContent = "Saving…";
          api("/api/admin/support/escalations/" + e.id + "/resolve", { method: "POST", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ note: note.value.trim() || null }) })
            .then(function () { status.textContent = "Resolved"; item.remove(); if (!document.querySelector("#support-body li[data-escalation]")) loadEscalations(); })
            .catch(function (err) { button.disabled = false; status.textContent = ""; status.appendChild(el("span", { class: "error", text: "Could not save: " + err.message })); });
        } }, el("label", { for: noteId, class: "small muted", text: "Reply note" }), note, el("div", { class: "row small" }, button, status));
        const item = el("li", { "data-escalation": e.id },
          el("p", {}, el("strong", { text: shopperName(e) }), " ", el("span", { class: "badge warning", text: label(e.topic) }),
            " ", el("span", { class: "muted small", text: "asked " + when(e.asked_at) })),
          el("blockquote", { text: e.question || "(question not kept)" }),
          el("p", { class: "small muted", text: "Assistant: " + e.answer }), form);
        return item;
      }))]);
    }).catch(failed("support-body", "support questions"));
  }

  document.getElementById("window-days").addEventListener("change", loadLift);
  loadShop();
  loadSync();
  loadLift();
  loadSegments();
  loadCustomers();
  loadFailed();
  loadInterests();
  loadRules();
  loadEscalations();
})();
