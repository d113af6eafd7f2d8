/* Attune "Frequently bought together": this product plus its usual companions, added in one AJAX Cart call. */
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

  function init(root) {
    var d = root.dataset, list = root.querySelector('.attune-fbt-list'), btn = root.querySelector('.attune-add-all');
    var status = root.querySelector('.attune-status'), total = root.querySelector('.attune-fbt-total');
    getJSON('/recommendations', { placement: 'fbt', product_id: d.productId, limit: d.count }).then(function (data) {
      var others = ((data && data.items) || []).filter(function (it) { return it.variant_id; }).slice(0, Number(d.count) || 2);
      if (!others.length) throw new Error('empty');
      var currency = data.currency;
      // Theme Liquid gives the current variant's price in cents.
      var rows = [{ variant_id: Number(d.variantId), title: d.title, price: Number(d.price) / 100, reason: d.labelThis, self: true }].concat(others);
      var frag = document.createDocumentFragment();
      rows.forEach(function (it, i) {
        var li = el('li', 'attune-card'), id = root.id + '-pick-' + i;
        var box = el('input', 'attune-fbt-pick'); box.type = 'checkbox'; box.checked = true; box.id = id; box.value = it.variant_id;
        box.dataset.price = it.price;
        var label = el('label', 'visually-hidden', it.title); label.htmlFor = id; label.style.cssText = 'position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)';
        var img = it.image ? el('img', 'attune-img') : el('span', 'attune-img');
        if (it.image) { img.src = it.image; img.alt = ''; img.loading = 'lazy'; img.decoding = 'async'; img.width = 300; img.height = 300; }
        var title = it.self ? el('span', 'attune-title', it.title) : el('a', 'attune-title', it.title);
        if (!it.self) {
          title.href = it.url;
          title.addEventListener('click', function () {
            publish('attune:recommendation_clicked', { product_id: it.product_id, placement: 'fbt', strategy: data.strategy, variant: data.variant, list_id: data.list_id, serve_id: data.serve_id, position: i });
          });
        }
        li.appendChild(box); li.appendChild(label); li.appendChild(img); li.appendChild(title);
        li.appendChild(el('span', 'attune-price', money(it.price, currency)));
        li.appendChild(el('span', 'attune-reason', it.reason || ''));
        frag.appendChild(li);
      });
      list.replaceChildren(frag);
      list.removeAttribute('aria-busy');

      function picked() { return Array.prototype.filter.call(list.querySelectorAll('.attune-fbt-pick'), function (b) { return b.checked; }); }
      function refresh() {
        var p = picked(), sum = p.reduce(function (s, b) { return s + Number(b.dataset.price || 0); }, 0);
        total.textContent = d.labelTotal + ': ' + money(sum, currency);
        btn.disabled = !p.length;
      }
      list.addEventListener('change', refresh);
      refresh();
      btn.addEventListener('click', function () {
        var items = picked().map(function (b) { return { id: Number(b.value), quantity: 1 }; });
        btn.disabled = true;
        fetch(d.cartAdd, { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify({ items: items }) })
          .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
          .then(function () {
            status.textContent = d.labelAdded;
            document.dispatchEvent(new CustomEvent('attune:cart-added', { detail: { items: items } }));
          }, function () { status.textContent = d.labelFailed; })
          .finally(function () { btn.disabled = false; });
      });
      root.dataset.state = 'ready';
    }).catch(function () { root.hidden = true; root.dataset.state = 'empty'; });
  }

  function start() { document.querySelectorAll('[data-attune-fbt]').forEach(init); }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
