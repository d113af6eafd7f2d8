/* Attune embedded admin: the action layer's pages (Channels, Contact policy, Activity) and the customer's
   conversation thread. Loaded after admin.js, whose helpers it uses through window.attune. */
(function () {
  "use strict";
  const A = window.attune;
  const root = document.getElementById("attune-admin");
  if (!A || !root) return;
  const el = A.el, svg = A.svg, api = A.api, when = A.when, label = A.label, count = A.count;
  const ACTION_TEXT = { send: "Sent", defer: "Deferred", hold_out: "Held out", suppress: "Suppressed" };
  const ACTION_COLOR = { send: "#29845a", defer: "#005bd3", hold_out: "#8a8a8a", suppress: "#b98900" };
  const CHANNEL_TEXT = { email: "E-mail", sms: "SMS", push: "Web push", onsite: "On-site", flow: "Shopify Flow" };
  function channelName(c) { return CHANNEL_TEXT[c] || label(c); }
  const STATUS_TONE = { sent: "success", delivered: "success", received: "info", queued: "info", pending: "info",
    sending: "info", failed: "critical", undelivered: "critical", unknown: "warning", cancelled: "" };

  function fill(id, content) {
    const box = document.getElementById(id);
    box.replaceChildren();
    [].concat(content).forEach(function (c) { if (c) box.appendChild(c); });
    const card = box.closest(".card");
    if (card) card.removeAttribute("aria-busy");
  }
  function failure(id, what) { return function (err) { fill(id, el("p", { class: "error", role: "alert", text: "Could not load " + what + ": " + err.message })); }; }
  function json(method, body) { return { method: method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }; }
  function badge(text, tone) { return el("span", { class: "badge " + (tone || ""), text: text }); }
  function field(name, text, input, hint) {
    input.name = name; input.id = input.id || "f-" + name + "-" + Math.random().toString(36).slice(2, 7);
    return el("label", { for: input.id }, text, hint ? el("span", { class: "hint small muted", text: hint }) : null, input);
  }
  function input(attrs) { return el("input", Object.assign({ type: "text", autocomplete: "off" }, attrs)); }
  function values(form) {
    const out = {};
    Array.from(form.elements).forEach(function (i) { if (i.name && !i.disabled) out[i.name] = i.value.trim(); });
    return out;
  }
  function saver(form, status, send) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      form.querySelectorAll("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      status.className = "small"; status.textContent = "Saving…";
      send(values(form)).then(function () { status.textContent = "Saved"; })
        .catch(function (err) {
          status.className = "small error"; status.textContent = err.message;
          const bad = err.field && form.elements[err.field];
          if (bad && bad.setAttribute) { bad.setAttribute("aria-invalid", "true"); bad.focus(); }
        }).finally(function () { button.disabled = false; });
    });
  }
  // api() with the field the API named, for the form to mark
  function call(path, init) {
    return window.attune.sessionToken().then(function (token) {
      const opts = Object.assign({}, init);
      opts.headers = Object.assign({ Authorization: "Bearer " + token }, opts.headers || {});
      return fetch(path, opts);
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) {
        if (res.ok) return body;
        const err = new Error(body.message || res.statusText);
        err.field = body.field;
        throw err;
      });
    });
  }

  // --- Channels ------------------------------------------------------------------------------------
  function readiness(ch) { return ch.ready ? badge("Ready", "success") : badge("Not set up", "warning"); }

  // "Send a test message": the form's controls give the body; the page polls the test until it is done
  function testForm(channel, controls, body, buttonText) {
    const result = el("span", { class: "small", role: "status", "data-test-result": channel });
    const button = el("button", { type: "submit", class: "btn", text: buttonText || "Send a test message" });
    function poll(url, tries) {
      api(url).then(function (t) {
        if (t.status === "sent") { result.replaceChildren(badge("Sent", "success"), " to " + t.recipient + " · provider id " + t.provider_id); button.disabled = false; return; }
        if (t.status === "failed") { result.replaceChildren(badge("Failed", "critical"), " " + t.error); button.disabled = false; return; }
        result.replaceChildren(badge(label(t.status), "info"), " …");
        if (tries > 0) setTimeout(function () { poll(url, tries - 1); }, 1000);
        else { result.textContent = "Still " + t.status + ": is a worker running?"; button.disabled = false; }
      }).catch(function (err) { result.textContent = err.message; button.disabled = false; });
    }
    return el("form", { class: "test-send", "data-test": channel, onsubmit: function (ev) {
      ev.preventDefault();
      button.disabled = true;
      result.className = "small"; result.textContent = "Queuing…";
      call("/api/admin/channels/" + channel + "/test", json("POST", body()))
        .then(function (t) { poll(t.status_url, 90); })
        .catch(function (err) { result.className = "small error"; result.textContent = err.message; button.disabled = false; });
    } }, controls, button, result);
  }

  function testSender(channel, placeholder, type) {
    const to = input({ type: type, placeholder: placeholder, "aria-label": "Send a test " + (channel === "email" ? "e-mail" : "SMS") + " to", name: "to" });
    return testForm(channel, to, function () { return { to: to.value.trim() }; });
  }

  function pushTester(p) {
    const id = input({ type: "number", min: 1, name: "subscription_id", placeholder: p.latest_subscription ? "newest: " + p.latest_subscription.id : "subscription id",
      "aria-label": "Send a test push to subscription (empty: the newest)" });
    return testForm("push", id, function () {
      const v = id.value.trim();
      return v ? { subscription_id: Number(v) } : {};
    }, "Send a test push");
  }

  function flowTester(triggers) {
    const select = el("select", { name: "trigger", "aria-label": "Flow trigger to fire as a test" },
      triggers.map(function (t) { return el("option", { value: t.handle, text: t.name }); }));
    return testForm("flow", select, function () { return { trigger: select.value }; }, "Fire a test trigger");
  }

  function emailCard(e) {
    const s = e.settings || {};
    const status = el("span", { class: "small", role: "status" });
    const form = el("form", { class: "settings", id: "email-form", novalidate: true },
      field("from_name", "Sender name", input({ value: s.from_name || "", maxlength: 120 })),
      field("from_address", "Sender address", input({ type: "email", value: s.from_address || "", required: true })),
      field("reply_to", "Reply-to address", input({ type: "email", value: s.reply_to || "" }), "optional"),
      field("postal_address", "Postal address", el("textarea", { rows: 2, maxlength: 500, text: s.postal_address || "" }),
        "your physical address, shown in every marketing e-mail (CAN-SPAM)"),
      field("smtp_url", "SMTP URL", input({ type: "password", placeholder: e.smtp_url ? "leave empty to keep " + e.smtp_url : "smtp://user:password@host:587", autocomplete: "new-password" }),
        e.smtp_url ? "stored: " + e.smtp_url : e.uses_default_smtp ? "none: the app's default relay is used" : "smtp://, smtps:// or smtp+plain://"),
      el("div", { class: "row" }, el("button", { type: "submit", class: "btn", text: "Save e-mail settings" }), status));
    saver(form, status, function (v) {
      if (!v.smtp_url) delete v.smtp_url;  // empty: keep the stored one
      return call("/api/admin/channels/email", json("PUT", v)).then(render);
    });
    return el("section", { class: "card", "data-channel": "email" },
      el("div", { class: "card-head" }, el("h3", {}, "E-mail (SMTP)", readiness(e))),
      e.missing ? el("p", { class: "small muted", text: e.missing }) : null, form, testSender("email", "you@example.com", "email"));
  }

  function smsCard(m) {
    const s = m.settings || {};
    const status = el("span", { class: "small", role: "status" });
    const form = el("form", { class: "settings", id: "sms-form", novalidate: true },
      field("account_sid", "Account SID", input({ value: s.account_sid || "", placeholder: "AC…", maxlength: 34 })),
      field("auth_token", "Auth token", input({ type: "password", autocomplete: "new-password", placeholder: m.auth_token ? "leave empty to keep " + m.auth_token : "" }),
        m.auth_token ? "stored: " + m.auth_token : "from the Twilio Console"),
      field("from_number", "Sender number", input({ type: "tel", value: s.from_number || "", placeholder: "+15005550006" }), "or a Messaging Service below"),
      field("messaging_service_sid", "Messaging Service SID", input({ value: s.messaging_service_sid || "", placeholder: "MG…" }), "optional"),
      field("default_region", "Default country", input({ value: s.default_region || "", maxlength: 2, placeholder: "US" }), "reads national numbers"),
      field("shop_name", "Shop name in texts", input({ value: s.shop_name || "", maxlength: 60 }), "optional"),
      el("div", { class: "row" }, el("button", { type: "submit", class: "btn", text: "Save SMS settings" }), status));
    saver(form, status, function (v) {
      if (!v.auth_token) delete v.auth_token;
      return call("/api/admin/channels/sms", json("PUT", v)).then(render);
    });
    return el("section", { class: "card", "data-channel": "sms" },
      el("div", { class: "card-head" }, el("h3", {}, "SMS (Twilio)", readiness(m))),
      m.missing ? el("p", { class: "small muted", text: m.missing }) : null, form, testSender("sms", "+14155552671", "tel"));
  }

  function pushCard(p) {
    return el("section", { class: "card", "data-channel": "push" },
      el("div", { class: "card-head" }, el("h3", {}, "Web push", p.ready ? badge("Ready", "success") : badge("Not set up", ""))),
      p.vapid_public_key ? [el("p", { class: "small muted", text: "VAPID public key (the browser's applicationServerKey):" }), el("p", { class: "secret", text: p.vapid_public_key })]
        : el("p", { class: "muted", text: "Not set up: the key pair is made when web push is first used in your shop." }),
      p.ready ? el("p", { class: "small muted", text: count(p.subscriptions) + " subscribed browser(s)" + (p.latest_subscription ? "; newest " + p.latest_subscription.id + " (" + p.latest_subscription.shopper + ", " + when(p.latest_subscription.updated_at) + ")" : "") }) : null,
      p.ready && p.subscriptions ? pushTester(p) : null);
  }

  function flowCard(f) {
    const body = f.triggers.length ? el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Trigger" }),
      el("th", { scope: "col", class: "num", text: "Fired" }), el("th", { scope: "col", class: "num", text: "Failed" }), el("th", { scope: "col", text: "Last" }))),
    el("tbody", {}, f.triggers.map(function (t) {
      return el("tr", { "data-trigger": t.handle }, el("td", { text: t.name }), el("td", { class: "num", text: count(t.fired) }),
        el("td", { class: "num", title: t.last_error || "", text: count(t.failed) }), el("td", { text: when(t.last_at) }));
    }))) : el("p", { class: "muted", text: "Not set up: this app version ships no Flow triggers." });
    return el("section", { class: "card", "data-channel": "flow" },
      el("div", { class: "card-head" }, el("h3", {}, "Shopify Flow", f.ready ? badge("Triggers available", "success") : badge("Not set up", ""))), body,
      f.triggers.length ? flowTester(f.triggers) : null);
  }

  function render(body) {
    fill("channels-body", [el("div", { class: "grid" }, emailCard(body.email), smsCard(body.sms)),
      el("div", { class: "grid" }, pushCard(body.push), flowCard(body.flow))]);
    return body;
  }
  function loadChannels() { return api("/api/admin/channels").then(render).catch(failure("channels-body", "channels")); }

  // --- Contact policy ------------------------------------------------------------------------------
  function loadPolicy() {
    return api("/api/admin/contact-policy").then(function (p) {
      const status = el("span", { class: "small", role: "status" });
      const rows = p.holdouts.map(function (h) {
        return el("tr", {}, el("th", { scope: "row", text: label(h.agent) }),
          el("td", {}, el("input", { type: "number", min: 0, max: 50, step: 1, "data-agent": h.agent, "aria-label": "Holdout share of " + label(h.agent) + ", percent", value: Math.round(h.share * 100) }), " %"),
          el("td", { class: "small muted", text: h.default ? "default" : "set" }));
      });
      const form = el("form", { class: "settings", id: "policy-form", novalidate: true },
        el("div", { class: "inline" },
          field("per_day", "Messages per shopper per day", input({ type: "number", min: 0, max: 24, value: p.per_day })),
          field("per_week", "Per 7 days", input({ type: "number", min: 0, max: 100, value: p.per_week }))),
        el("div", { class: "inline" },
          field("allowed_from", "Send from", input({ type: "time", min: p.limits.earliest, max: p.limits.latest, value: p.allowed_from }), "not before " + p.limits.earliest),
          field("allowed_until", "Until", input({ type: "time", min: p.limits.earliest, max: p.limits.latest, value: p.allowed_until }), "not after " + p.limits.latest),
          field("timezone", "Shop time zone", input({ value: p.timezone, maxlength: 64 }), "when the shopper's is unknown")),
        el("table", { class: "holdouts" }, el("caption", { class: "small muted", text: "Share of shoppers each agent holds out (0–50 %)" }), el("tbody", {}, rows)),
        el("div", { class: "row" }, el("button", { type: "submit", class: "btn", text: "Save policy" }), status));
      saver(form, status, function (v) {
        const holdouts = {};
        form.querySelectorAll("input[data-agent]").forEach(function (i) { holdouts[i.dataset.agent] = Number(i.value) / 100; });
        return call("/api/admin/contact-policy", json("PUT", { per_day: Number(v.per_day), per_week: Number(v.per_week),
          allowed_from: v.allowed_from, allowed_until: v.allowed_until, timezone: v.timezone || null, holdouts: holdouts }));
      });
      fill("policy-body", form);
    }).catch(failure("policy-body", "the contact policy"));
  }

  // --- Activity ------------------------------------------------------------------------------------
  const feed = { page: 1, filters: {} };
  function query(extra) {
    const q = new URLSearchParams();
    Object.keys(feed.filters).forEach(function (k) { if (feed.filters[k]) q.set(k, feed.filters[k]); });
    Object.keys(extra || {}).forEach(function (k) { q.set(k, extra[k]); });
    return q.toString();
  }

  function dailyChart(days, actions) {
    const W = 560, H = 180, left = 30, bottom = 22, top = 8;
    const totals = days.map(function (d) { return actions.reduce(function (s, a) { return s + d[a]; }, 0); });
    const max = Math.max.apply(null, totals.concat([1]));
    const bw = (W - left) / days.length;
    const y = function (v) { return top + (H - top - bottom) * (1 - v / max); };
    const chart = svg("svg", { class: "daily-chart", viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
      "aria-label": "Decisions per day by action; the table beside lists the numbers" },
      svg("text", { x: 0, y: y(max) + 4, text: String(max) }), svg("text", { x: 0, y: y(0), text: "0" }));
    days.forEach(function (d, i) {
      let base = 0;
      const g = svg("g", { "data-date": d.date }, svg("title", { text: d.date + ": " + actions.map(function (a) { return ACTION_TEXT[a] + " " + d[a]; }).join(", ") }));
      actions.forEach(function (a) {
        if (!d[a]) return;
        g.appendChild(svg("rect", { x: left + i * bw + 1, width: Math.max(bw - 2, 1), y: y(base + d[a]), height: y(base) - y(base + d[a]), fill: ACTION_COLOR[a], "data-action": a }));
        base += d[a];
      });
      if (i % Math.ceil(days.length / 6) === 0) g.appendChild(svg("text", { x: left + i * bw, y: H - 6, text: d.date.slice(5) }));
      chart.appendChild(g);
    });
    const legend = el("div", { class: "legend" }, actions.map(function (a) { return el("span", {}, el("span", { class: "swatch", "data-action": a }), ACTION_TEXT[a]); }));
    const active = days.filter(function (d, i) { return totals[i]; }).reverse();
    const table = el("div", { class: "table-wrap" }, el("table", { id: "daily-table" }, el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Day" }),
      actions.map(function (a) { return el("th", { scope: "col", class: "num", text: ACTION_TEXT[a] }); }))),
    el("tbody", {}, active.length ? active.map(function (d) {
      return el("tr", { "data-date": d.date }, el("th", { scope: "row", text: d.date }), actions.map(function (a) { return el("td", { class: "num", text: count(d[a]) }); }));
    }) : el("tr", {}, el("td", { colspan: actions.length + 1, class: "muted", text: "No decisions in these days." })))));
    return el("div", { class: "daily" }, el("figure", {}, chart, legend), table);
  }

  function outcome(o) {
    if (!o) return el("span", { class: "muted", text: "no message" });
    const status = o.delivery_status || o.status;
    return el("span", {}, badge(label(status), STATUS_TONE[status]), o.provider_id ? el("span", { class: "small muted", text: " " + o.provider_id }) : null,
      o.error || o.delivery_error ? el("div", { class: "small error", text: o.error || o.delivery_error }) : null);
  }
  function shopper(s) { return s.name || (s.customer_id ? "Customer " + s.customer_id : "Visitor " + String(s.client_id || "").slice(0, 10)); }

  function select(name, text, options, value) {
    return field(name, text, el("select", {}, el("option", { value: "", text: "All" }), options.map(function (o) {
      return el("option", { value: o, text: ACTION_TEXT[o] || CHANNEL_TEXT[o] || label(o), selected: o === value });
    })));
  }

  function loadActivity() {
    return Promise.all([api("/api/admin/activity?" + query({ page: feed.page, per_page: 25 })), api("/api/admin/activity/daily?" + query())]).then(function (r) {
      const body = r[0], daily = r[1], f = feed.filters;
      const form = el("form", { class: "filters", id: "activity-filters" },
        select("agent", "Agent", body.facets.agents, f.agent), select("action", "Action", body.facets.actions, f.action),
        select("channel", "Channel", body.facets.all_channels, f.channel),
        field("from", "From", input({ type: "date", value: f.from || "" })), field("to", "To", input({ type: "date", value: f.to || "" })),
        el("button", { type: "submit", class: "btn", text: "Filter" }));
      form.addEventListener("submit", function (ev) { ev.preventDefault(); feed.filters = values(form); feed.page = 1; loadActivity(); });
      const rows = body.decisions.map(function (d) {
        return el("tr", { "data-decision": d.id, "data-action": d.action }, el("td", { class: "small", text: when(d.decided_at) }),
          el("td", { text: label(d.agent) }), el("td", {}, el("span", { class: "swatch", "data-action": d.action }), ACTION_TEXT[d.action] || d.action),
          el("td", { text: d.channel ? channelName(d.channel) : "—" }), el("td", { text: shopper(d.shopper) }),
          el("td", {}, el("div", { text: d.reason }), el("div", { class: "small muted", text: d.proposal_reason })), el("td", {}, outcome(d.outbox)));
      });
      const pager = el("div", { class: "pager small" },
        el("button", { type: "button", class: "btn plain", text: "← Newer", disabled: body.page <= 1, onclick: function () { feed.page -= 1; loadActivity(); } }),
        el("span", { text: "Page " + body.page + " of " + body.pages + " · " + count(body.total) + " decisions" }),
        el("button", { type: "button", class: "btn plain", text: "Older →", disabled: body.page >= body.pages, onclick: function () { feed.page += 1; loadActivity(); } }));
      fill("activity-body", [form, dailyChart(daily.days, daily.actions), el("div", { class: "table-wrap" }, el("table", { id: "activity-table" },
        el("thead", {}, el("tr", {}, ["When", "Agent", "Decision", "Channel", "Shopper", "Reason", "Outcome"].map(function (t) { return el("th", { scope: "col", text: t }); }))),
        el("tbody", { id: "activity-rows" }, rows.length ? rows : el("tr", {}, el("td", { colspan: 7, class: "muted", text: "No decisions match." }))))), pager]);
    }).catch(failure("activity-body", "activity"));
  }

  // --- the customer's conversation (a hook in admin.js's customer detail) ----------------------------
  A.onCustomer = function (box, rec) {
    const section = el("section", { class: "conversation", "aria-labelledby": "conversation-title" },
      el("h3", { id: "conversation-title", class: "small muted", text: "Conversation" }), el("p", { class: "muted small", text: "Loading…" }));
    box.insertBefore(section, box.querySelector(".detail-grid") || null);
    api("/api/admin/customers/" + rec.id + "/conversation").then(function (body) {
      section.lastChild.remove();
      section.appendChild(body.messages.length ? el("ol", { class: "thread" }, body.messages.map(function (m) {
        const status = (m.outbox && m.outbox.delivery_status) || m.status;
        return el("li", { "data-direction": m.direction, "data-message": m.id },
          el("div", { class: "meta" }, el("strong", { text: m.direction === "in" ? "From the shopper" : label(m.agent || "shop") }),
            badge(channelName(m.channel), "info"), badge(label(status), STATUS_TONE[status]), el("span", { text: when(m.at) })),
          el("div", { text: m.summary }), m.reason ? el("div", { class: "small muted", text: "Why: " + m.reason }) : null,
          m.outbox && m.outbox.error ? el("div", { class: "small error", text: m.outbox.error }) : null);
      })) : el("p", { class: "muted small", text: "No messages with this customer yet." }));
    }).catch(function (err) { section.lastChild.textContent = "Could not load the conversation: " + err.message; });
  };

  // --- pages ---------------------------------------------------------------------------------------
  const LOADERS = { channels: loadChannels, policy: loadPolicy, activity: loadActivity };
  function route() {
    const view = (window.location.hash || "#dashboard").slice(1);
    const known = view in LOADERS ? view : "dashboard";
    root.dataset.view = known;
    document.querySelectorAll("[data-view-link]").forEach(function (a) {
      if (a.dataset.viewLink === known) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    });
    if (LOADERS[known]) LOADERS[known]();
  }
  window.addEventListener("hashchange", route);
  route();
})();
