/* Attune embedded admin: features waiting for an optional access scope, with a "grant" action.
   In Shopify's admin the grant is App Bridge's shopify.scopes.request (a permission modal); locally (the fake
   Shopify) it is the authorization-code grant asking for the scope. After a grant, Attune re-reads its scopes. */
(function () {
  "use strict";
  const box = document.getElementById("scopes-prompt");
  const body = document.getElementById("scopes-body");
  if (!box || !body || !window.attune) return;
  const api = window.attune.api;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function refreshed() {
    return api("/api/admin/scopes/refresh", { method: "POST" }).then(function () {
      return new Promise(function (resolve) { setTimeout(resolve, 1500); });
    }).then(load);
  }

  function grant(info, button, status) {
    button.disabled = true;
    status.textContent = "Asking Shopify…";
    if (info.method === "app_bridge" && window.shopify && window.shopify.scopes) {
      window.shopify.scopes.request(info.scopes).then(function (res) {
        if (res && res.result === "granted-all") { status.textContent = "Granted. Updating…"; return refreshed(); }
        status.textContent = "Not granted. These features stay off; you can grant it any time.";
        button.disabled = false;
      }).catch(function (err) { status.textContent = "Could not ask: " + err.message; button.disabled = false; });
      return;
    }
    if (info.url) { window.open(info.url, "_top"); return; }
    status.textContent = "Open Attune from your Shopify admin to grant access.";
    button.disabled = false;
  }

  function load() {
    return api("/api/admin/scopes").then(function (data) {
      body.replaceChildren();
      if (!data.waiting.length) { box.hidden = true; return; }
      const status = el("span", { class: "small", role: "status" });
      const button = el("button", { type: "button", class: "btn", id: "grant-scopes",
        text: "Grant " + data.grant.scopes.join(", "), onclick: function () { grant(data.grant, button, status); } });
      body.appendChild(el("p", { class: "muted", text: "These features are off until you grant Attune " +
        data.grant.scopes.join(", ") + ". Nothing breaks meanwhile: each feature stays off until its permission is granted." }));
      body.appendChild(el("ul", {}, data.waiting.map(function (w) {
        const waiting = w.skipped ? el("span", { class: "badge warning", text: w.skipped + " waiting" }) : null;
        return el("li", { "data-feature": w.key }, [el("strong", { text: w.title }), " ", waiting,
          el("br"), el("span", { class: "small", text: w.detail })]);
      })));
      body.appendChild(el("div", { class: "row small" }, [button, status]));
      box.hidden = false;
    }).catch(function (err) {
      body.replaceChildren(el("p", { class: "error", text: "Could not load access scopes: " + err.message }));
      box.hidden = false;
    });
  }

  load();
})();
