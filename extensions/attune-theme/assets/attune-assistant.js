/* Attune assistant (app embed): launcher + dialog with nudges, semantic search, support questions, picks, one-click reorder,
   the signed-in shopper's recent messages, a web push opt-in (permission asked only when its button is pressed) and a
   "notify me" for sold-out variants (the product page's, or a sold-out best match in an answer). */
(function () {
  'use strict';
  var PROXY = '/apps/attune', TIMEOUT_MS = 1500, ASK_MS = 8000, LINGER_MS = 3000;
  var FOCUSABLE = 'a[href],button:not([disabled]),input:not([disabled]),select,textarea,[tabindex]:not([tabindex="-1"])';

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

  function getJSON(path, params, body, ms) { // with body: a JSON POST
    var ctl = new AbortController(), timer = setTimeout(function () { ctl.abort(); }, ms || TIMEOUT_MS);
    var q = new URLSearchParams(params || {}); q.set('client_id', clientId());
    var init = { signal: ctl.signal, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body) { init.method = 'POST'; init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(PROXY + path + '?' + q.toString(), init)
      .then(function (r) {
        if (r.ok) return r.json();
        var err = new Error('HTTP ' + r.status); // the endpoint's message, when it gave one, on err.body
        return r.json().then(function (j) { err.body = j; throw err; }, function () { throw err; });
      })
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

  function productRow(item, onClick) {
    var li = el('li', 'attune-row'), div = el('div'), a = el('a', null, item.title);
    a.href = item.url;
    if (onClick) a.addEventListener('click', onClick);
    div.appendChild(a);
    if (item.reason) div.appendChild(el('small', null, item.reason));
    li.appendChild(div);
    li.appendChild(el('span', 'attune-row-price', money(item.price, item.currency)));
    return li;
  }

  function watchLinger(node, source) {
    if (!node || !('IntersectionObserver' in window) || node.dataset.attuneWatched) return;
    node.dataset.attuneWatched = '1';
    var timer = null, done = false;
    new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (done) return;
        if (e.isIntersecting) {
          timer = timer || setTimeout(function () { done = true; publish('attune:shipping_notice_lingered', { source: source, seconds: LINGER_MS / 1000, text: node.textContent.trim().slice(0, 200) }); }, LINGER_MS);
        } else if (timer) { clearTimeout(timer); timer = null; }
      });
    }, { threshold: 0.5 }).observe(node);
  }

  // A signed-in customer's browser, once per session: Attune links this client id to the customer (the app proxy
  // verifies the sign-in; the pixel's customer id is never trusted for that).
  function identify(d) {
    if (!d.customer) return;
    var cid = clientId(), key = 'attune_identified';
    try { if (!cid || sessionStorage.getItem(key) === cid) return; } catch (e) { return; }
    getJSON('/identify', {}, {}, ASK_MS).then(function () {
      try { sessionStorage.setItem(key, cid); } catch (e) { /* private mode: ask again next page */ }
    }).catch(function () {});
  }

  function init(root) {
    var tpl = root.querySelector('template[data-attune-ui]');
    if (tpl) root.replaceChildren(tpl.content.cloneNode(true)); // the embed's UI, inert until this script runs
    var d = root.dataset, launcher = root.querySelector('.attune-launcher'), panel = root.querySelector('.attune-panel');
    var closeBtn = root.querySelector('.attune-close'), loaded = false;
    identify(d);

    function focusables() {
      return Array.prototype.filter.call(panel.querySelectorAll(FOCUSABLE), function (n) { return n.getClientRects().length > 0; });
    }
    function open(source) {
      if (!panel.hidden) return;
      panel.hidden = false; launcher.setAttribute('aria-expanded', 'true'); root.dataset.open = '1';
      var first = panel.querySelector('#attune-q') || focusables()[0];
      if (first) first.focus();
      publish('attune:assistant_opened', { source: source || 'launcher', page: location.pathname });
      watchLinger(panel.querySelector('[data-attune-shipping]'), 'assistant');
      if (!loaded) { loaded = true; loadPanel(); }
      var ns = panel.querySelector('.attune-notify select'); if (ns) pickVariant(ns); // it may have changed since
    }
    function close() {
      if (panel.hidden) return;
      panel.hidden = true; launcher.setAttribute('aria-expanded', 'false'); delete root.dataset.open;
      launcher.focus();
    }
    launcher.addEventListener('click', function () { if (panel.hidden) open('launcher'); else close(); });
    closeBtn.addEventListener('click', close);
    panel.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { e.preventDefault(); close(); return; }
      if (e.key !== 'Tab') return;
      var f = focusables(); if (!f.length) return;
      var first = f[0], last = f[f.length - 1];
      if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
    });

    // "Notify me" for sold-out variants ({variant_id, title}): one e-mail when it is back, sent only when the
    // shopper submits it (source=assistant); the endpoint's own message is shown on a refusal, as the block does.
    function notifyForm(variants) {
      var tpl = root.querySelector('template[data-attune-notify]');
      if (!tpl || !variants || !variants.length) return null;
      var form = tpl.content.firstElementChild.cloneNode(true), sel = form.elements.variant_id, status = form.querySelector('.attune-status');
      variants.forEach(function (v) { var o = el('option', null, v.title); o.value = v.variant_id; sel.appendChild(o); });
      pickVariant(sel);
      form.querySelector('.attune-notify-variant').hidden = variants.length < 2;
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        var btn = form.querySelector('button'), body = { variant_id: sel.value, channel: 'email', email: form.elements.email.value, source: 'assistant', locale: document.documentElement.lang || '' };
        btn.disabled = true; status.classList.remove('attune-error');
        getJSON('/back-in-stock', null, body, ASK_MS).then(function () {
          status.textContent = status.dataset.done;
          form.querySelectorAll('label,button,.attune-bis-consent').forEach(function (n) { n.hidden = true; });
        }).catch(function (err) {
          status.classList.add('attune-error');
          status.textContent = (err.body && err.body.error) || status.dataset.failed;
        }).finally(function () { btn.disabled = false; });
      });
      return form;
    }
    function pickVariant(sel) { // the theme's selected variant (?variant=), when it is one of the sold-out ones
      var v = new URLSearchParams(location.search).get('variant');
      if (Array.prototype.some.call(sel.options, function (o) { return o.value === v; })) sel.value = v;
    }
    function loadNotify() {
      var sec = root.querySelector('.attune-notify'), form = null;
      try { form = notifyForm(JSON.parse(d.soldOut || '[]')); } catch (e) { /* no product data: nothing to offer */ }
      if (sec && form) { sec.appendChild(form); sec.hidden = false; }
    }

    function loadQuestions() { // questions shoppers ask about this product, each one the shop's knowledge answers
      var qs = root.querySelector('.attune-questions');
      if (!qs || !d.productId || !ask) return;
      getJSON('/product-questions', { product_id: d.productId }).then(function (data) {
        var ul = qs.querySelector('ul');
        (data.questions || []).forEach(function (q) {
          var b = el('button', 'attune-chip', q.question); b.type = 'button';
          b.addEventListener('click', function () {
            ask.querySelector('input').value = q.question;
            ask.requestSubmit ? ask.requestSubmit() : ask.dispatchEvent(new Event('submit', { cancelable: true }));
            publish('attune:product_question_asked', { product_id: d.productId, question: q.question });
          });
          var li = el('li'); li.appendChild(b); ul.appendChild(li);
        });
        qs.hidden = !ul.children.length;
      }).catch(function () {});
    }

    function loadPanel() {
      loadThread(); initPush(); loadQuestions(); loadNotify();
      var params = { placement: 'assistant', limit: d.count };
      if (d.productId) params.product_id = d.productId;
      getJSON('/recommendations', params).then(function (data) {
        var sec = root.querySelector('.attune-foryou'), ul = sec.querySelector('ul');
        (data.items || []).forEach(function (it, i) {
          it.currency = data.currency;
          ul.appendChild(productRow(it, function () {
            publish('attune:recommendation_clicked', { product_id: it.product_id, placement: 'assistant', strategy: data.strategy, variant: data.variant, list_id: data.list_id, serve_id: data.serve_id, position: i + 1 });
          }));
        });
        sec.hidden = !ul.children.length;
      }).catch(function () {});
      var low = root.querySelector('.attune-low');
      if (low && d.customer) { // what the replenishment agent would remind this shopper of now
        getJSON('/running-low').then(function (data) {
          var ul = low.querySelector('ul');
          (data.items || []).forEach(function (it) {
            var li = el('li', 'attune-row'), div = el('div'), a = el('a', null, it.title);
            a.href = it.url; div.appendChild(a);
            div.appendChild(el('small', null, it.reason));
            li.appendChild(div);
            if (it.cart_url) {
              var btn = el('a', 'attune-row-btn', d.labelReorder); btn.href = it.cart_url;
              btn.setAttribute('aria-label', d.labelReorder + ': ' + it.title);
              li.appendChild(btn);
            }
            ul.appendChild(li);
          });
          low.hidden = !ul.children.length;
          if (!low.hidden) publish('attune:running_low_shown', { products: (data.items || []).map(function (x) { return x.product_id; }) });
        }).catch(function () {});
      }
      var reorder = root.querySelector('.attune-reorder');
      if (reorder && d.customer) {
        getJSON('/reorder').then(function (data) {
          var ul = reorder.querySelector('ul');
          (data.orders || []).forEach(function (o) {
            var li = el('li', 'attune-row'), div = el('div');
            div.appendChild(el('span', null, o.name));
            div.appendChild(el('small', null, (o.items || []).map(function (x) { return x.quantity + ' × ' + x.title; }).join(', ')));
            var a = el('a', 'attune-row-btn', d.labelReorder); a.href = o.permalink;
            a.setAttribute('aria-label', d.labelReorder + ': ' + o.name);
            li.appendChild(div); li.appendChild(a); ul.appendChild(li);
          });
          reorder.hidden = !ul.children.length;
        }).catch(function () {});
      }
    }

    var thread = root.querySelector('.attune-thread');
    function loadThread() { // the signed-in customer's own messages (the proxy refuses anyone else)
      if (!thread || !d.customer) return;
      getJSON('/messages').then(function (data) {
        var ul = thread.querySelector('ul');
        (data.messages || []).forEach(function (m) {
          var key = 'labelSent' + m.channel.charAt(0).toUpperCase() + m.channel.slice(1);
          var lead = m.direction === 'in' ? d.labelYouWrote : (d[key] || d.labelSentOther);
          var li = el('li', 'attune-row'), div = el('div'), at = new Date(m.at);
          div.appendChild(el('span', null, lead + ' \u201c' + m.summary + '\u201d'));
          if (!isNaN(at)) div.appendChild(el('small', null, at.toLocaleDateString(document.documentElement.lang || undefined)));
          li.appendChild(div); ul.appendChild(li);
        });
        thread.hidden = !ul.children.length;
      }).catch(function () {});
    }

    var push = root.querySelector('.attune-push'), SW = PROXY + '/sw.js', SCOPE = PROXY + '/';
    function pushState(on, note) {
      push.hidden = false; push.dataset.state = on ? 'on' : 'off';
      push.querySelector('.attune-push-on').hidden = on; push.querySelector('.attune-push-off').hidden = !on;
      push.querySelector('.attune-push-note').textContent = note || (on ? d.labelPushOn : '');
    }
    function keyBytes(s) {
      var raw = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '===='.slice(0, (4 - s.length % 4) % 4)), out = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
      return out;
    }
    function active(reg) { // pushManager.subscribe needs an active worker
      if (reg.active) return Promise.resolve(reg);
      var w = reg.installing || reg.waiting;
      return new Promise(function (ok, fail) {
        if (!w) return fail(new Error('no worker'));
        w.addEventListener('statechange', function () { if (w.state === 'activated') ok(reg); else if (w.state === 'redundant') fail(new Error('worker failed')); });
      });
    }
    function current() { return navigator.serviceWorker.getRegistration(SCOPE).then(function (reg) { return reg ? reg.pushManager.getSubscription() : null; }); }
    function pushOn(btn) {
      btn.disabled = true;
      Notification.requestPermission().then(function (perm) { // asked here, on the shopper's click, never before
        if (perm !== 'granted') throw new Error(perm);
        return Promise.all([getJSON('/push/key', null, null, ASK_MS), navigator.serviceWorker.register(SW, { scope: SCOPE }).then(active)]);
      }).then(function (r) {
        return r[1].pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(r[0].public_key) });
      }).then(function (sub) { return getJSON('/push/subscribe', null, sub.toJSON(), ASK_MS); })
        .then(function () { pushState(true); publish('attune:push_opted_in', { page: location.pathname }); })
        .catch(function () { pushState(false, Notification.permission === 'denied' ? d.labelPushBlocked : d.labelPushError); })
        .finally(function () { btn.disabled = false; });
    }
    function pushOff(btn) {
      btn.disabled = true;
      current().then(function (sub) {
        if (!sub) return null;
        return getJSON('/push/unsubscribe', null, { endpoint: sub.endpoint }, ASK_MS).then(function () { return sub.unsubscribe(); });
      }).then(function () { pushState(false); }, function () { pushState(true, d.labelPushError); })
        .finally(function () { btn.disabled = false; });
    }
    function initPush() {
      if (!push || !('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) return;
      push.querySelector('.attune-push-on').addEventListener('click', function (e) { pushOn(e.currentTarget); });
      push.querySelector('.attune-push-off').addEventListener('click', function (e) { pushOff(e.currentTarget); });
      if (Notification.permission === 'denied') return pushState(false, d.labelPushBlocked);
      if (Notification.permission !== 'granted') return pushState(false);
      current().then(function (sub) { pushState(!!sub); }, function () { pushState(false); });
    }

    var form = root.querySelector('.attune-search'), results = root.querySelector('.attune-results');
    if (form) form.addEventListener('submit', function (e) {
      e.preventDefault();
      var q = form.querySelector('input').value.trim();
      if (!q) return;
      getJSON('/search', { q: q, limit: 6 }).then(function (data) {
        var frag = document.createDocumentFragment();
        (data.items || []).forEach(function (it, i) {
          it.currency = data.currency;
          frag.appendChild(productRow(it, function () {
            publish('attune:recommendation_clicked', { product_id: it.product_id, placement: 'search', strategy: 'semantic_search', position: i + 1, query: q });
          }));
        });
        if (!frag.children.length) frag.appendChild(el('li', 'attune-row', d.labelNone));
        results.replaceChildren(frag);
      }).catch(function () { results.replaceChildren(); });
    });

    function rate(id) { // 👍 / 👎 on an answer: the shop sees how often the agent helped
      var row = el('p', 'attune-rate');
      [[true, '\uD83D\uDC4D', d.labelHelpful], [false, '\uD83D\uDC4E', d.labelUnhelpful]].forEach(function (v) {
        var b = el('button', 'attune-rate-btn', v[1]); b.type = 'button'; b.setAttribute('aria-label', v[2] || '');
        b.setAttribute('aria-pressed', 'false');
        b.addEventListener('click', function () {
          getJSON('/support/feedback', null, { message_id: id, helpful: v[0] }, ASK_MS).then(function () {
            row.querySelectorAll('button').forEach(function (x) { x.setAttribute('aria-pressed', String(x === b)); });
          }).catch(function () {});
        });
        row.appendChild(b);
      });
      return row;
    }

    var ask = root.querySelector('.attune-ask-form'), chat = root.querySelector('.attune-chat');
    if (ask) ask.addEventListener('submit', function (e) { // nothing is sent until the shopper asks
      e.preventDefault();
      var input = ask.querySelector('input'), btn = ask.querySelector('button'), q = input.value.trim();
      if (!q || btn.disabled) return;
      var turn = el('li', 'attune-turn'), wait = el('p', 'attune-wait', d.labelWait);
      turn.appendChild(el('p', 'attune-you', d.labelYou + ': ' + q)); turn.appendChild(wait);
      chat.appendChild(turn); btn.disabled = true; input.value = '';
      var asked = { question: q };
      if (d.productId) asked.product_id = d.productId; // a question on a product page is about that product
      getJSON('/support', null, asked, ASK_MS).then(function (data) {
        var box = el('div', 'attune-answer'), items = data.products || [], src = data.source;
        box.appendChild(el('p', null, data.answer));
        if (src && src.url && /^(https:\/\/|\/(?!\/))/.test(src.url)) { // the passage's source, as a link
          var from = el('p', 'attune-source', (d.labelSource || 'Source') + ': '), link = el('a', null, src.title || src.url);
          link.href = src.url; from.appendChild(link); box.appendChild(from);
        }
        if (data.order) box.appendChild(el('p', 'attune-order', d.labelOrder + ' ' + data.order));
        if (items.length) {
          var ul = el('ul'); ul.setAttribute('role', 'list');
          var notify = null;
          items.forEach(function (it, i) {
            if (it.sold_out) { it.reason = d.labelSoldOut; notify = notifyForm(it.notify); }
            ul.appendChild(productRow(it, function () { publish('attune:recommendation_clicked', { product_id: it.product_id, placement: 'support', strategy: 'support', position: i + 1 }); }));
            if (it.sold_out && notify) { var li = el('li'); li.appendChild(notify); ul.appendChild(li); }
          });
          box.appendChild(ul);
        }
        if (data.escalated) box.appendChild(el('p', 'attune-escalated', d.labelEscalated));
        else if (data.message_id) box.appendChild(rate(data.message_id));
        wait.replaceWith(box); box.scrollIntoView({ block: 'nearest' });
      }).catch(function () {
        var p = el('p', 'attune-error', d.labelError); p.setAttribute('role', 'alert'); wait.replaceWith(p);
        if (!input.value) input.value = q; // keep the question to try again
      }).finally(function () { btn.disabled = false; input.focus(); });
    });

    function showNudges(nudges) {
      if (!nudges.length) return;
      var sec = root.querySelector('.attune-nudges'), ul = sec.querySelector('ul');
      nudges.forEach(function (n) {
        var li = el('li', 'attune-row'), node = n.url ? el('a', null, n.text) : el('span', null, n.text);
        if (n.url) node.href = n.url;
        if (n.kind === 'shipping') node.setAttribute('data-attune-shipping', '');
        li.appendChild(node); ul.appendChild(li);
      });
      sec.hidden = false;
      var bubble = root.querySelector('.attune-nudge'), text = bubble.querySelector('.attune-nudge-text'), first = nudges[0];
      text.textContent = first.text;
      text.addEventListener('click', function (e) { if (!first.url) { e.preventDefault(); bubble.hidden = true; open('nudge'); } });
      if (first.url) text.href = first.url;
      bubble.querySelector('.attune-nudge-close').addEventListener('click', function () { bubble.hidden = true; });
      bubble.hidden = false;
      if (first.kind === 'shipping') watchLinger(text, 'nudge');
    }
    function fetchNudges() {
      var params = d.productId ? { product_id: d.productId } : {};
      getJSON('/nudges', params).then(function (data) { showNudges((data && data.nudges) || []); }).catch(function () {});
    }
    if ('requestIdleCallback' in window) requestIdleCallback(fetchNudges, { timeout: 3000 }); else setTimeout(fetchNudges, 200);
  }

  function start() { var root = document.querySelector('[data-attune-assistant]'); if (root) init(root); }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
