/* Attune "Notify me": records the shopper's request to be told once when a sold-out variant is back
   (POST /apps/attune/back-in-stock). The server validates; its message is shown as it is. */
(function () {
  'use strict';
  var PROXY = '/apps/attune', TIMEOUT_MS = 1500;

  function clientId() {
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

  function post(body) {
    var ctl = new AbortController(), timer = setTimeout(function () { ctl.abort(); }, TIMEOUT_MS * 4);
    var q = new URLSearchParams({ client_id: clientId() });
    return fetch(PROXY + '/back-in-stock?' + q.toString(), {
      method: 'POST', signal: ctl.signal, credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { ok: r.ok, body: j }; });
    }).finally(function () { clearTimeout(timer); });
  }

  function wire(root) {
    var form = root.querySelector('form'), status = root.querySelector('.attune-status');
    var email = root.querySelector('.attune-bis-email'), phone = root.querySelector('.attune-bis-phone');
    root.querySelectorAll('input[name=channel]').forEach(function (r) {
      r.addEventListener('change', function () {
        var sms = form.elements.channel.value === 'sms';
        if (phone) phone.hidden = !sms;
        email.hidden = sms;
      });
    });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var channel = form.elements.channel ? form.elements.channel.value : 'email';
      var body = { variant_id: form.elements.variant_id.value, channel: channel, source: 'theme', locale: root.getAttribute('data-locale') || '' };
      if (channel === 'sms') body.phone = form.elements.phone.value; else body.email = form.elements.email.value;
      var button = form.querySelector('button');
      button.disabled = true;
      status.classList.remove('attune-error');
      post(body).then(function (res) {
        if (res.ok) { status.textContent = status.getAttribute('data-done'); form.hidden = true; return; }
        status.classList.add('attune-error');
        status.textContent = (res.body && res.body.error) || status.getAttribute('data-failed');
      }).catch(function () {
        status.classList.add('attune-error');
        status.textContent = status.getAttribute('data-failed');
      }).finally(function () { button.disabled = false; });
    });
    form.querySelector('button').disabled = false; // the submit is handled from here on
  }

  document.querySelectorAll('[data-attune-bis]').forEach(wire);
})();
