// Attune web pixel (strict sandbox). Streams storefront customer events to Attune in small batches.
//
// - Subscribes to the standard events Attune models and to the custom events our theme extension
//   publishes (Shopify.analytics.publish("attune:…", data)).
// - Honours customer privacy: nothing is buffered or sent unless analytics processing is allowed;
//   consent given or withdrawn mid-visit (visitorConsentCollected) takes effect at once.
// - Sends compact events (no e-mail, phone or street address) to POST {endpoint}/pixel/events,
//   flushing at MAX_BATCH events, shortly after the last event, at once before likely navigations,
//   and on pagehide where the runtime has one. browser.sendBeacon first, fetch keepalive otherwise.
import { register } from "@shopify/web-pixels-extension";

export const STANDARD_EVENTS = [
  "page_viewed",
  "product_viewed",
  "collection_viewed",
  "search_submitted",
  "product_added_to_cart",
  "product_removed_from_cart",
  "cart_viewed",
  "checkout_started",
  "checkout_contact_info_submitted",
  "checkout_address_info_submitted",
  "checkout_shipping_info_submitted",
  "payment_info_submitted",
  "checkout_completed",
];
export const CUSTOM_EVENTS = [
  "attune:assistant_opened",
  "attune:recommendation_clicked",
  "attune:shipping_notice_lingered",
];
export const MAX_BATCH = 10;
export const FLUSH_DELAY_MS = 2000;
export const MAX_STRING = 512;
const MAX_LINES = 30;
// Events usually followed by a navigation: send without waiting for the timer.
const FLUSH_NOW = new Set([
  "product_added_to_cart",
  "checkout_started",
  "checkout_contact_info_submitted",
  "checkout_address_info_submitted",
  "checkout_shipping_info_submitted",
  "payment_info_submitted",
  "checkout_completed",
  "attune:recommendation_clicked",
]);

const str = (v) => (v === undefined || v === null ? null : String(v).slice(0, MAX_STRING));
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const money = (m) => (m ? { amount: num(m.amount), currencyCode: str(m.currencyCode) } : null);

function variant(v) {
  if (!v) return null;
  const p = v.product || {};
  return {
    id: str(v.id),
    title: str(v.title),
    sku: str(v.sku),
    price: money(v.price),
    product: { id: str(p.id), title: str(p.title), vendor: str(p.vendor), type: str(p.type), url: str(p.url) },
  };
}

function checkout(c) {
  if (!c) return null;
  const ship = c.shippingAddress || {};
  const order = c.order || {};
  return {
    token: str(c.token),
    currencyCode: str(c.currencyCode),
    total: money(c.totalPrice),
    subtotal: money(c.subtotalPrice),
    shipping: money(c.shippingLine && c.shippingLine.price),
    discounts: (c.discountApplications || []).slice(0, 10).map((d) => str(d.title)),
    lines: (c.lineItems || []).slice(0, MAX_LINES).map((l) => ({
      quantity: num(l.quantity),
      variantId: str(l.variant && l.variant.id),
      productId: str(l.variant && l.variant.product && l.variant.product.id),
      price: money(l.variant && l.variant.price),
    })),
    city: str(ship.city),
    provinceCode: str(ship.provinceCode),
    countryCode: str(ship.countryCode),
    orderId: str(order.id),
    customerId: str(order.customer && order.customer.id),
  };
}

function cartLine(l) {
  if (!l) return null;
  return { quantity: num(l.quantity), cost: money(l.cost && l.cost.totalAmount), variant: variant(l.merchandise) };
}

/** The compact data Attune keeps for one event (never PII beyond city and country). */
export function compactData(event) {
  const d = event.data || {};
  switch (event.name) {
    case "product_viewed":
      return { variant: variant(d.productVariant) };
    case "collection_viewed":
      return {
        collection: d.collection ? { id: str(d.collection.id), title: str(d.collection.title) } : null,
        products: (d.collection && d.collection.productVariants ? d.collection.productVariants.length : null),
      };
    case "search_submitted":
      return {
        query: str(d.searchResult && d.searchResult.query),
        results: d.searchResult && d.searchResult.productVariants ? d.searchResult.productVariants.length : null,
      };
    case "product_added_to_cart":
    case "product_removed_from_cart":
      return { line: cartLine(d.cartLine) };
    case "cart_viewed":
      return d.cart
        ? {
            cart: {
              id: str(d.cart.id),
              totalQuantity: num(d.cart.totalQuantity),
              cost: money(d.cart.cost && d.cart.cost.totalAmount),
              lines: (d.cart.lines || []).slice(0, MAX_LINES).map(cartLine),
            },
          }
        : { cart: null };
    case "page_viewed":
      return {};
    default:
      if ((event.name || "").startsWith("checkout_") || event.name === "payment_info_submitted") {
        return { checkout: checkout(d.checkout) };
      }
      return { custom: customData(event.customData) };
  }
}

function customData(value) {
  if (value === undefined || value === null) return null;
  try {
    const text = JSON.stringify(value);
    return text.length <= 2048 ? JSON.parse(text) : { truncated: true };
  } catch (_err) {
    return null;
  }
}

function compactContext(ctx) {
  const doc = (ctx && ctx.document) || {};
  const loc = doc.location || {};
  const nav = (ctx && ctx.navigator) || {};
  const win = (ctx && ctx.window) || {};
  return {
    url: str(loc.href),
    referrer: str(doc.referrer),
    title: str(doc.title),
    userAgent: str(nav.userAgent),
    language: str(nav.language),
    viewportWidth: num(win.innerWidth),
    screenWidth: num(win.screen && win.screen.width),
  };
}

function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch (_err) {
    return null;
  }
}

/**
 * Wire one pixel instance to Shopify's APIs. Returns a handle used by tests (flush, buffered count).
 * `runtime` lets a harness supply the global fetch and the target that may fire pagehide.
 */
export function createPixel({ analytics, browser, init, settings, customerPrivacy }, runtime = {}) {
  const fetchImpl = runtime.fetch || globalThis.fetch;
  const target = runtime.eventTarget === undefined ? globalThis : runtime.eventTarget;
  const endpoint = str(settings && settings.endpoint);
  const shopKey = str(settings && settings.shopKey);
  const data = (init && init.data) || {};
  const shop = str((settings && settings.accountID) || (data.shop && data.shop.myshopifyDomain));
  const active = Boolean(endpoint && shopKey && shop);
  const url = active ? `${endpoint.replace(/\/+$/, "")}/pixel/events` : null;
  let allowed = Boolean(init && init.customerPrivacy && init.customerPrivacy.analyticsProcessingAllowed === true);
  let customerId = str(data.customer && data.customer.id);
  let clientId = null;
  let buffer = [];
  let timer = null;

  function send(body) {
    const viaFetch = () =>
      fetchImpl
        ? fetchImpl(url, {
            method: "POST",
            body,
            keepalive: true,
            credentials: "omit",
            headers: { "Content-Type": "text/plain;charset=UTF-8" },
          })
            .then((r) => Boolean(r && r.ok))
            .catch(() => false)
        : Promise.resolve(false);
    if (browser && typeof browser.sendBeacon === "function") {
      let sent;
      try {
        sent = browser.sendBeacon(url, body); // called synchronously: the page may be going away
      } catch (_err) {
        return viaFetch();
      }
      return Promise.resolve(sent).then((ok) => ok || viaFetch(), viaFetch);
    }
    return viaFetch();
  }

  function flush() {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    if (!buffer.length || !allowed) {
      buffer = [];
      return Promise.resolve(false);
    }
    const batch = {
      shop,
      pixelKey: shopKey,
      clientId,
      customerId,
      timeZone: timeZone(),
      sentAt: new Date().toISOString(),
      events: buffer,
    };
    buffer = [];
    return send(JSON.stringify(batch));
  }

  function onEvent(event) {
    if (!active || !allowed || !event) return;
    clientId = clientId || str(event.clientId);
    const compact = {
      id: str(event.id),
      name: str(event.name),
      type: str(event.type),
      timestamp: str(event.timestamp),
      seq: num(event.seq),
      context: compactContext(event.context),
      data: compactData(event),
    };
    if (compact.data.checkout && compact.data.checkout.customerId) customerId = compact.data.checkout.customerId;
    buffer.push(compact);
    if (buffer.length >= MAX_BATCH || FLUSH_NOW.has(event.name)) {
      flush();
    } else if (timer === null) {
      timer = setTimeout(flush, FLUSH_DELAY_MS);
    }
  }

  if (active) {
    for (const name of STANDARD_EVENTS) analytics.subscribe(name, onEvent);
    for (const name of CUSTOM_EVENTS) analytics.subscribe(name, onEvent);
  }
  if (customerPrivacy && typeof customerPrivacy.subscribe === "function") {
    customerPrivacy.subscribe("visitorConsentCollected", (event) => {
      const cp = (event && event.customerPrivacy) || {};
      allowed = cp.analyticsProcessingAllowed === true;
      if (!allowed) {
        buffer = []; // withdrawn: what was not sent yet is dropped, never sent later
        if (timer !== null) clearTimeout(timer);
        timer = null;
      }
    });
  }
  if (active && target && typeof target.addEventListener === "function") {
    // Only lax runtimes see page lifecycle events; the strict worker relies on FLUSH_NOW and the timer.
    target.addEventListener("pagehide", () => flush());
  }
  return { flush, buffered: () => buffer.length, isAllowed: () => allowed };
}

register((api) => {
  createPixel(api);
});
