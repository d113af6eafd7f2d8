/* Attune "Buy it again": the logged-in customer's repeat purchases, or nothing. */
(function () {
  'use strict';
  var PROXY = '/apps/attune', TIMEOUT_MS = 1500;

  function clientId() { // read once per page (document.cookie is a synchronous round trip), shared by the blocks
    var w = window.__attune || (window.__attune = {});
    if (typeof w.cid === 'string') return w.cid;
    var m = document.cookie.match(/(?:^|; )_shopify_y=([^;]+)/), v = '';
    if (m) v = decodeURIComponent(m[1]);
    else {
      try {
        v = localStorage.getItem('attune_cid');
        if (!v) { v = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Math.random()).slice(2); localStorage.setItem('attune_cid', v); }
      } catch (e) { v = ''; }
    }
    return (w.cid = v);
  }

  function getJSON(path, params) {
    var ctl = new AbortController(), timer = setTimeout(function () { ctl.abort(); }, TIMEOUT_MS);
    var q = new URLSearchParams(params); q.set('client_id', clientId());
    return fetch(PROXY + path + '?' + q.toString(), { signal: ctl.signal, credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .finally(function () { clearTimeout(timer); });
  }

  function publish(name, data) {
    try { if (window.Shopify && Shopify.analytics && Shopify.analytics.publish) Shopify.analytics.publish(name, data); } catch (e) { /* never break the page */ }
  }

  function money(amount, currency) {
    var n = Number(amount);
    if (!isFinite(n)) return '';
    try { return new Intl.NumberFormat(document.documentElement.lang || undefined, { style: 'currency', currency: currency || 'USD' }).format(n); } catch (e) { return n.toFixed(2); }
  }

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }

  function addToCart(url, items) {
    return fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify({ items: items }) })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); });
  }

  function card(root, data, item, pos) {
    var li = el('li', 'attune-card'), d = root.dataset;
    var img = item.image ? el('img', 'attune-img') : el('span', 'attune-img');
    if (item.image) { img.src = item.image; img.alt = ''; img.loading = 'lazy'; img.decoding = 'async'; img.width = 300; img.height = 300; }
    var a = el('a', 'attune-title', item.title); a.href = item.url;
    a.addEventListener('click', function () {
      publish('attune:recommendation_clicked', { product_id: item.product_id, placement: data.placement, strategy: data.strategy, variant: data.variant, list_id: data.list_id, serve_id: data.serve_id, position: pos });
    });
    li.appendChild(img); li.appendChild(a); li.appendChild(el('span', 'attune-price', money(item.price, data.currency)));
    if (d.reasons !== 'false') li.appendChild(el('span', 'attune-reason', item.reason || ''));
    var b = el('button', 'attune-btn', d.labelAdd); b.type = 'button';
    b.setAttribute('aria-label', d.labelAdd + ': ' + item.title);
    b.disabled = !item.variant_id;
    b.addEventListener('click', function () {
      addToCart(d.cartAdd, [{ id: item.variant_id, quantity: 1 }]).then(function () {
        root.querySelector('.attune-status').textContent = d.labelAdded + ': ' + item.title;
      }, function () {});
    });
    li.appendChild(b);
    return li;
  }

  function init(root) {
    var d = root.dataset, list = root.querySelector('.attune-grid');
    var params = { placement: 'buy_again', limit: d.count };
    getJSON('/recommendations', params).then(function (data) {
      var items = (data && data.items) || [];
      if (!items.length) throw new Error('empty');
      var frag = document.createDocumentFragment();
      items.slice(0, Number(d.count) || 4).forEach(function (it, i) { frag.appendChild(card(root, data, it, i + 1)); });
      list.replaceChildren(frag);
      list.removeAttribute('aria-busy');
      root.dataset.state = 'ready';
    }).catch(function () { root.hidden = true; root.dataset.state = 'empty'; });
  }

  function start() { document.querySelectorAll('[data-attune-again]').forEach(init); }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
