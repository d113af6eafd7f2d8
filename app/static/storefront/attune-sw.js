/* Attune web push service worker. The app proxy serves it at /apps/attune/sw.js and the assistant registers it
   with the scope /apps/attune/ (a script's own folder, the widest scope a browser allows without a
   Service-Worker-Allowed header): it controls no storefront page and intercepts no request. It only shows the
   shop's notifications and opens their link, always on the shop's own site. */
'use strict';

function onSite(url) {
  try {
    var u = new URL(url || '/', self.location.origin);
    return self.location.origin + u.pathname + u.search + u.hash;
  } catch (e) { return self.location.origin + '/'; }
}

self.addEventListener('install', function () { self.skipWaiting(); });
self.addEventListener('activate', function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener('push', function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { body: event.data ? event.data.text() : '' }; }
  event.waitUntil(self.registration.showNotification(String(data.title || ''), {
    body: String(data.body || ''),
    tag: data.tag ? String(data.tag) : undefined,
    data: { url: onSite(data.url) }
  }));
});

self.addEventListener('notificationclick', function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || onSite('/');
  event.waitUntil(self.clients.openWindow(url));
});
