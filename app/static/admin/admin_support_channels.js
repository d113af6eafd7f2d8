/* Attune embedded admin: the support agent's other channels (issue 18) — Messenger and Instagram, e-mail replies
   through Mailgun's signed inbound route, and a Gorgias or Zendesk help desk. Connect, change, disconnect.
   Secrets are write-only: the page shows whether each is set, never its value. A 422 from the API is shown beside
   the field it names. Every word comes from /api/admin/support/channels in the shop's language (?locale=); every
   text is set with textContent (el's "text"), never as HTML. Loaded after admin.js (window.attune). */
(function () {
  "use strict";
  const A = window.attune;
  const section = document.getElementById("support-channels");
  if (!A || !section) return;
  const el = A.el, api = A.api;
  const body = document.getElementById("support-channels-body");
  const LOCALE = new URLSearchParams(window.location.search).get("locale") || navigator.language || "en";
  const PATH = "/api/admin/support/channels";
  const CHANNELS = [
    { name: "messenger", hook: "callback", fields: [
      { name: "page_id", required: true, numeric: true }, { name: "instagram_id", numeric: true },
      { name: "page_token", secret: true }, { name: "app_secret", secret: true }, { name: "verify_token", secret: true }] },
    { name: "email", hook: "route", fields: [
      { name: "address", type: "email" }, { name: "signing_key", secret: true }] },
    { name: "helpdesk", fields: [
      { name: "provider", options: ["gorgias", "zendesk"], required: true }, { name: "account", required: true },
      { name: "email", label: "desk_email", type: "email", required: true }, { name: "api_token", secret: true }] }
  ];
  const PROVIDERS = { gorgias: "Gorgias", zendesk: "Zendesk" };
  let W = {};

  function url(path) { return path + "?locale=" + encodeURIComponent(LOCALE); }
  function badge(text, tone) { return el("s-badge", { class: "badge " + (tone || ""), tone: tone || null, text: text }); }
  function json(method, data) { return { method: method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) }; }

  function state(ch) {
    if (!ch.connected) return badge(W.not_connected, null);
    return ch.ready ? badge(W.connected, "success") : badge(W.incomplete, "warning");
  }

  function hookRow(name, label, address) {
    const id = "sc-" + name + "-hook";
    const input = el("input", { id: id, type: "text", readonly: true, value: address, class: "sc-hook", spellcheck: "false" });
    const status = el("span", { class: "small", role: "status" });
    const copy = el("button", { type: "button", class: "btn secondary", text: W.copy, "aria-describedby": id, onclick: function () {
      const done = function () { status.textContent = W.copied; };
      const manual = function () { input.focus(); input.select(); status.textContent = W.copy_failed; };
      if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(address).then(done, manual);
      else manual();
    } });
    return el("div", { class: "sc-field" }, el("label", { for: id, class: "small muted", text: W[label] }),
      el("div", { class: "row small" }, input, copy, status));
  }

  function field(name, f, ch) {
    const id = "sc-" + name + "-" + f.name, err = id + "-error", hint = id + "-hint";
    const described = [hint, err].join(" ");
    let input;
    if (f.options) {
      input = el("select", { id: id, name: f.name, required: true, "aria-describedby": err },
        f.options.map(function (o) { return el("option", { value: o, text: PROVIDERS[o], selected: ch.settings[f.name] === o ? true : null }); }));
    } else {
      input = el("input", { id: id, name: f.name, type: f.secret ? "password" : (f.type || "text"), autocomplete: f.secret ? "new-password" : "off",
        spellcheck: "false", inputmode: f.numeric ? "numeric" : null, required: f.required ? true : null, "aria-describedby": described,
        value: f.secret ? "" : (ch.settings[f.name] || "") });
    }
    const label = el("label", { for: id, text: W[f.label || f.name] });
    const parts = [label];
    if (f.secret) {
      const stored = ch.secrets_stored.indexOf(f.name) >= 0;
      label.appendChild(document.createTextNode(" "));
      label.appendChild(badge(stored ? W.set : W.not_set, stored ? "success" : null));
      parts.push(input, el("span", { id: hint, class: "small muted", text: stored ? W.keep : "" }));
    } else {
      parts.push(input, el("span", { id: hint, class: "visually-hidden", text: "" }));
    }
    parts.push(el("span", { id: err, class: "error small", "data-error-for": f.name }));
    return el("div", { class: "sc-field" }, parts);
  }

  function clearErrors(form) {
    form.querySelectorAll("[aria-invalid]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
    form.querySelectorAll("[data-error-for]").forEach(function (s) { s.textContent = ""; });
  }

  function channelCard(spec, ch) {
    const name = spec.name;
    const status = el("span", { class: "small", role: "status", "data-status": name });
    const save = el("button", { type: "submit", class: "btn", text: W.save });
    const disconnect = el("button", { type: "button", class: "btn secondary", text: W.disconnect, disabled: ch.connected ? null : true });
    const form = el("form", { class: "sc-form", novalidate: true, "aria-labelledby": "sc-" + name + "-title" },
      spec.fields.map(function (f) { return field(name, f, ch); }), el("div", { class: "row small" }, save, disconnect, status));

    function failed(err) {
      const named = err.body && err.body.field && form.elements[err.body.field];
      if (named) {
        named.setAttribute("aria-invalid", "true");
        form.querySelector('[data-error-for="' + err.body.field + '"]').textContent = err.message;
        status.textContent = W.save_failed;
        named.focus();
      } else {
        status.replaceChildren(el("span", { class: "error", text: W.save_failed + ": " + err.message }));
      }
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors(form);
      const data = {};
      spec.fields.forEach(function (f) {
        const v = form.elements[f.name].value.trim();
        if (!f.secret || v) data[f.name] = v;  // a secret left empty keeps the stored one
      });
      save.disabled = true;
      status.textContent = W.saving;
      api(url(PATH + "/" + name), json("PUT", data))
        .then(function (fresh) { render(fresh, name, W.saved, "button[type=submit]"); })
        .catch(function (err) { save.disabled = false; failed(err); });
    });
    disconnect.addEventListener("click", function () {
      disconnect.disabled = true;
      api(url(PATH + "/" + name), { method: "DELETE" })
        .then(function (fresh) { render(fresh, name, W.disconnected, "input, select"); })
        .catch(function (err) { disconnect.disabled = false; failed(err); });
    });
    return el("s-section", { class: "card sc-channel", "data-support-channel": name, "aria-labelledby": "sc-" + name + "-title" },
      el("h3", { id: "sc-" + name + "-title" }, el("span", { text: W[name] }), " ", state(ch)),
      ch.connected && ch.missing ? el("p", { class: "small muted", "data-missing": "", text: ch.missing }) : null,
      spec.hook && ch.webhook_url ? hookRow(name, spec.hook, ch.webhook_url) : null,
      form);
  }

  function render(data, focusChannel, message, focusSelector) {
    W = data.words || W;
    document.getElementById("support-channels-title").textContent = W.title;
    document.getElementById("support-channels-intro").textContent = W.intro;
    body.replaceChildren(el("div", { class: "sc-grid" }, CHANNELS.map(function (spec) { return channelCard(spec, data[spec.name]); })));
    section.removeAttribute("aria-busy");
    if (focusChannel) {  // keep the keyboard where it was, and say what happened
      const card = body.querySelector('[data-support-channel="' + focusChannel + '"]');
      card.querySelector("[data-status]").textContent = message;
      const target = card.querySelector(focusSelector);
      if (target && !target.disabled) target.focus();
    }
  }

  api(url(PATH)).then(function (data) { render(data); }).catch(function (err) {
    section.removeAttribute("aria-busy");
    body.replaceChildren(el("p", { class: "error", role: "alert", text: (W.load_failed || "Could not load the support channels") + ": " + err.message }));
  });
})();
