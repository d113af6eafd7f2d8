/* Attune in-session rescue (app embed): notices hesitation (re-adds, quantity toggles, an idle cart, the tab
   hidden with items, repeated views of shipping / returns / size information, coming back from checkout; cart
   changes through Shopify's AJAX cart API, /cart/add|change|update.js, by fetch or XMLHttpRequest) only
   after the shopper's consent (Shopify's Customer Privacy API), sends the signals to the app proxy
   (POST /apps/attune/nudge), and shows the one nudge the server decides, if any (an approved incentive once its
   code is delivered on site: GET /apps/attune/nudges). Loaded after the load event. */
(function () {
  'use strict';
  var PROXY = '/apps/attune/nudge', DEBOUNCE_MS = 600, MIN_GAP_MS = 1000, MAX_POSTS = 40, TIMEOUT_MS = 1500;
  var IDLE_S = 60, HIDDEN_S = 20, TICK_MS = 15000;
  var INFO = [['shipping', /shipping|delivery|versand|livraison/i], ['returns', /return|refund|rückgabe|retour/i], ['size', /size|fit|größe|taille/i]];
  var root = document.querySelector('[data-attune-rescue]');
  if (!root || root.dataset.attuneStarted) return;
  root.dataset.attuneStarted = '1';
  var S = window.Shopify || {}, store = window.sessionStorage, queue = [], timer = null, posts = 0, last = 0, done = false;
  var cartItems = 0, lastProgress = Date.now(), hiddenAt = 0, hiddenTotal = 0, native = window.fetch;

  function get(k) { try { return store.getItem(k); } catch (e) { return null; } }
  function put(k, v) { try { store.setItem(k, v); } catch (e) { /* private mode */ } }
  function rand() { return (window.crypto && crypto.randomUUID) ? crypto.randomUUID().replace(/-/g, '') : String(Math.random()).slice(2) + String(Date.now()); }
  function sid() { var v = get('attune_sid'); if (!v) { v = rand().slice(0, 32); put('attune_sid', v); } return v; }
  function clientId() {
    var w = window.__attune || (window.__attune = {});
    if (typeof w.cid === 'string') return w.cid;
    var m = document.cookie.match(/(?:^|; )_shopify_y=([^;]+)/), v = '';
    if (m) v = decodeURIComponent(m[1]);
    else { try { v = localStorage.getItem('attune_cid') || ''; if (!v) { v = rand(); localStorage.setItem('attune_cid', v); } } catch (e) { v = ''; } }
    return (w.cid = v);
  }

  function allowed() {
    try {
      var p = S.customerPrivacy;
      if (p && typeof p.analyticsProcessingAllowed === 'function') return !!p.analyticsProcessingAllowed();
      if (p && typeof p.userCanBeTracked === 'function') return !!p.userCanBeTracked();
    } catch (e) { /* treat as no consent */ }
    return false;
  }

  function whenConsent(go) {
    var started = false;
    function maybe() { if (!started && allowed()) { started = true; go(); } }
    document.addEventListener('visitorConsentCollected', maybe);
    if (!S.customerPrivacy && typeof S.loadFeatures === 'function') {
      S.loadFeatures([{ name: 'consent-tracking-api', version: '0.1' }], function (err) { if (!err) maybe(); });
    }
    maybe();
  }

  function signal(kind, data) {
    if (done) return;
    var n = (parseInt(get('attune_sn') || '0', 10) || 0) + 1;
    put('attune_sn', String(n));
    var s = { id: 'n' + n, kind: kind };
    for (var k in data) s[k] = data[k];
    queue.push(s);
    clearTimeout(timer);
    timer = setTimeout(flush, Math.max(DEBOUNCE_MS, last + MIN_GAP_MS - Date.now()));
  }

  function cart() {
    return native.call(window, '/cart.js', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; }).catch(function () { return null; });
  }

  function flush() {
    if (!queue.length || done || posts >= MAX_POSTS) return;
    var batch = queue.splice(0, 20);
    posts++; last = Date.now();
    cart().then(function (c) {
      var ids = [], body;
      if (c && c.items) { cartItems = c.item_count || c.items.length; c.items.forEach(function (i) { if (ids.indexOf(i.product_id) < 0) ids.push(i.product_id); }); }
      body = { session: sid(), signals: batch, locale: S.locale || document.documentElement.lang || undefined };
      if (c) body.cart = { token: c.token, total: (c.total_price || 0) / 100, currency: c.currency || (S.currency && S.currency.active) || 'USD', product_ids: ids.slice(0, 50) };
      if (S.country) body.country = S.country;
      var pid = parseInt(root.dataset.productId, 10);
      if (pid > 0) body.product_id = pid;
      var ctl = new AbortController(), t = setTimeout(function () { ctl.abort(); }, TIMEOUT_MS);
      return native.call(window, PROXY + '?client_id=' + encodeURIComponent(clientId()), {
        method: 'POST', credentials: 'same-origin', signal: ctl.signal,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body)
      }).then(function (r) { return r.ok ? r.json() : null; }).finally(function () { clearTimeout(t); });
    }).then(function (answer) {
      if (answer && answer.nudge) { done = true; put('attune_done', '1'); show(answer.nudge); }
      else if (answer && answer.pending) { done = true; put('attune_done', '1'); awaitOffer(answer.pending, 0); }
      if (queue.length) timer = setTimeout(flush, MIN_GAP_MS);
    }).catch(function () { /* never break the page */ });
  }

  // an approved incentive: its code is made by a job and delivered as an on-site message (kind "offer");
  // the card shows only once it is there, so a failed code shows nothing at all
  function awaitOffer(frame, n) {
    setTimeout(function () {
      native.call(window, '/apps/attune/nudges?client_id=' + encodeURIComponent(clientId()), { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          var o = d && (d.nudges || []).filter(function (x) { return x.kind === 'offer'; })[0];
          if (o) show({ rung: frame.rung, title: frame.title, close: frame.close, lines: [o.text] });
          else if (n < 5) awaitOffer(frame, n + 1);
        }).catch(function () { /* never break the page */ });
    }, [1000, 2000, 4000, 8000, 16000, 30000][n]);
  }

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }

  function show(card) {
    var box = el('div', 'attune-rescue-card'), head = el('div', 'attune-rescue-head'), close = el('button', 'attune-rescue-close', '\u00d7');
    box.setAttribute('role', 'status'); box.dataset.rung = card.rung;
    head.appendChild(el('strong', null, card.title || ''));
    close.type = 'button'; close.setAttribute('aria-label', card.close || 'Close');
    close.addEventListener('click', function () { box.remove(); });
    head.appendChild(close); box.appendChild(head);
    (card.lines || []).forEach(function (line) { box.appendChild(el('p', null, line)); });
    if (card.items && card.items.length) {
      var ul = el('ul');
      card.items.forEach(function (i) {
        var li = el('li'), a = el('a', null, i.title);
        if (/^\/[^/\\]/.test(i.url)) a.href = i.url;
        li.appendChild(a); li.appendChild(el('span', null, ' ' + (i.price || '')));
        li.appendChild(el('small', null, i.why || '')); ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    var css = el('style', null, '.attune-rescue-card{position:fixed;left:20px;bottom:20px;z-index:2147482999;width:min(320px,calc(100vw - 40px));box-sizing:border-box;padding:14px 16px;background:var(--attune-bg,#fff);color:var(--attune-text,#1a1a1a);border-top:4px solid var(--attune-accent,#1f5f4a);border-radius:10px;box-shadow:0 6px 20px rgba(0,0,0,.2);font:inherit}.attune-rescue-head{display:flex;justify-content:space-between;align-items:center;gap:8px}.attune-rescue-card p{margin:6px 0 0}.attune-rescue-card ul{list-style:none;margin:8px 0 0;padding:0}.attune-rescue-card li{padding:4px 0}.attune-rescue-card small{display:block;opacity:.75}.attune-rescue-close{border:0;background:none;font-size:1.3rem;cursor:pointer;color:inherit}');
    root.appendChild(css); root.appendChild(box);
  }

  function onCart(url, body) {
    var path = String(url).split('?')[0], data = body;
    if (!/\/cart\/(add|change|update)(\.js)?$/.test(path)) return;
    if (typeof body === 'string') { try { data = JSON.parse(body); } catch (e) { data = new URLSearchParams(body); } }
    if (data instanceof FormData || data instanceof URLSearchParams) { var f = data; data = { updates: {} }; f.forEach(function (v, k) { var m = /^updates\[(\d+)\]$/.exec(k); if (m) data.updates[m[1]] = v; else data[k] = v; }); }
    if (!data || typeof data !== 'object') return;
    lastProgress = Date.now();
    if (/add/.test(path)) {
      (data.items || [{ id: data.id, quantity: data.quantity }]).forEach(function (i) { var v = parseInt(i.id, 10); if (v > 0) signal('cart_add', { variant: v, qty: parseInt(i.quantity, 10) || 1 }); });
    } else if (/change/.test(path)) {
      var v = parseInt(data.id, 10), q = parseInt(data.quantity, 10);
      if (v > 0 && q >= 0) signal(q === 0 ? 'cart_remove' : 'cart_qty', q === 0 ? { variant: v } : { variant: v, qty: q });
    } else if (data.updates && typeof data.updates === 'object' && !Array.isArray(data.updates)) {
      Object.keys(data.updates).forEach(function (k) { var v = parseInt(k, 10), q = parseInt(data.updates[k], 10); if (v > 0 && q >= 0) signal(q === 0 ? 'cart_remove' : 'cart_qty', q === 0 ? { variant: v } : { variant: v, qty: q }); });
    }
  }

  function watchCart() {
    window.fetch = function (input, init) {
      try { onCart(typeof input === 'string' ? input : (input && input.url) || '', init && init.body); } catch (e) { /* never break the theme */ }
      return native.apply(this, arguments);
    };
    var X = window.XMLHttpRequest && XMLHttpRequest.prototype, open = X && X.open, send = X && X.send;
    if (X) { // themes that add to cart with XMLHttpRequest (jQuery's $.post, older AJAX carts)
      X.open = function (m, url) { this.__attuneUrl = url; return open.apply(this, arguments); };
      X.send = function (body) { try { if (this.__attuneUrl) onCart(this.__attuneUrl, body); } catch (e) { /* never break the theme */ } return send.apply(this, arguments); };
    }
    document.addEventListener('submit', function (e) {
      var f = e.target;
      if (!f || !f.action) return;
      if (/\/cart\/add/.test(f.action)) { var v = parseInt((f.querySelector('[name=id]') || {}).value, 10); if (v > 0) signal('cart_add', { variant: v, qty: 1 }); }
      if (/\/checkout/.test(f.action) || (e.submitter && e.submitter.name === 'checkout')) put('attune_co', '1');
    }, true);
  }

  function topicOf(text) { for (var i = 0; i < INFO.length; i++) if (INFO[i][1].test(text)) return INFO[i][0]; return null; }

  function watchInfo() {
    var here = location.pathname;
    if (/\/policies\/shipping/.test(here)) signal('info_view', { topic: 'shipping' });
    else if (/\/policies\/refund/.test(here)) signal('info_view', { topic: 'returns' });
    document.addEventListener('click', function (e) {
      var t = e.target && e.target.closest && e.target.closest('a[href*="/policies/"],summary,[data-size-guide],[aria-controls]');
      if (!t) return;
      if (t.getAttribute('href') && /\/checkout/.test(t.getAttribute('href'))) return;
      var topic = topicOf((t.getAttribute('href') || '') + ' ' + (t.textContent || '').slice(0, 80));
      if (topic) signal('info_view', { topic: topic });
    }, true);
    document.addEventListener('click', function (e) {
      var a = e.target && e.target.closest && e.target.closest('a[href*="/checkout"],[name=checkout]');
      if (a) put('attune_co', '1');
    }, true);
  }

  function watchCheckoutBack() {
    var ref = document.referrer || '', nav = (performance.getEntriesByType && performance.getEntriesByType('navigation')[0]) || {};
    var fromCheckout = /\/checkouts?\//.test(ref) || (get('attune_co') === '1' && nav.type === 'back_forward');
    if (fromCheckout) { put('attune_co', ''); signal('checkout_back', {}); }
    window.addEventListener('pageshow', function (e) { // restored from the back-forward cache: no new page load
      if (e.persisted && get('attune_co') === '1') { put('attune_co', ''); signal('checkout_back', {}); }
    });
  }

  function watchIdle() {
    ['click', 'keydown', 'scroll'].forEach(function (t) { window.addEventListener(t, function () { if (t !== 'scroll') lastProgress = Date.now(); }, { passive: true }); });
    setInterval(function () {
      var idle = (Date.now() - lastProgress) / 1000;
      if (cartItems > 0 && !document.hidden && idle >= IDLE_S && /\/cart/.test(location.pathname)) signal('cart_idle', { seconds: Math.round(idle) });
    }, TICK_MS);
    document.addEventListener('visibilitychange', function () {
      if (document.hidden) { hiddenAt = Date.now(); return; }
      if (!hiddenAt) return;
      hiddenTotal += (Date.now() - hiddenAt) / 1000; hiddenAt = 0;
      if (cartItems > 0 && hiddenTotal >= HIDDEN_S) signal('tab_hidden', { seconds: Math.round(hiddenTotal) });
    });
  }

  whenConsent(function () {
    if (get('attune_done') === '1') return; // one nudge per session
    cart().then(function (c) { if (c) cartItems = c.item_count || 0; });
    watchCart(); watchInfo(); watchCheckoutBack(); watchIdle();
  });
})();
