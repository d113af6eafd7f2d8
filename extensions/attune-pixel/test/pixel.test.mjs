// Runs the real extension source against a harness that plays Shopify's part (analytics bus,
// browser.sendBeacon, init data, customerPrivacy). Run: node --test test/
import assert from "node:assert/strict";
import { register as registerHooks } from "node:module";
import { beforeEach, afterEach, mock, test } from "node:test";

registerHooks("./hooks.mjs", import.meta.url);
const shopify = await import("./fake-shopify.mjs");
const pixel = await import("../src/index.js");

const SETTINGS = { accountID: "alpha.myshopify.com", shopKey: "pk_alpha_0123456789", endpoint: "https://attune.test/" };
let seq = 0;

function harness({ consent = true, settings = SETTINGS, customer = null, beaconOk = true, withBeacon = true } = {}) {
  const handlers = new Map();
  const consentHandlers = [];
  const beacons = [];
  const fetches = [];
  const pagehide = [];
  const api = {
    analytics: {
      subscribe(name, cb) {
        assert.ok(!handlers.has(name), `subscribed twice to ${name}`);
        handlers.set(name, cb);
      },
    },
    browser: withBeacon
      ? {
          sendBeacon: async (url, body) => {
            beacons.push({ url, batch: JSON.parse(body), bytes: body.length });
            return beaconOk;
          },
        }
      : {},
    init: {
      context: {},
      data: { customer, shop: { myshopifyDomain: "alpha.myshopify.com" }, cart: null },
      customerPrivacy: {
        analyticsProcessingAllowed: consent,
        marketingAllowed: false,
        preferencesProcessingAllowed: false,
        saleOfDataAllowed: false,
      },
    },
    settings,
    customerPrivacy: {
      subscribe(name, cb) {
        assert.equal(name, "visitorConsentCollected");
        consentHandlers.push(cb);
      },
    },
  };
  const runtime = {
    fetch: async (url, options) => {
      fetches.push({ url, options, batch: JSON.parse(options.body) });
      return { ok: true };
    },
    eventTarget: { addEventListener: (type, cb) => type === "pagehide" && pagehide.push(cb) },
  };
  // The extension's own register callback, exactly as Shopify would call it.
  const before = shopify.registered.length;
  assert.ok(before >= 1, "the extension registers on import");
  const handle = pixel.createPixel(api, runtime);
  return {
    handle,
    handlers,
    beacons,
    fetches,
    emit(name, data = {}, extra = {}) {
      const cb = handlers.get(name);
      if (!cb) return false;
      seq += 1;
      cb({
        id: `evt-${seq}`,
        clientId: "client-abc",
        name,
        seq,
        type: name.startsWith("attune:") ? "custom" : "standard",
        timestamp: new Date(Date.UTC(2026, 10, 20, 18, 0, seq)).toISOString(),
        context: {
          document: {
            location: { href: `https://alpha.example/products/shoe?utm_source=news&n=${seq}` },
            referrer: "https://www.google.com/",
            title: "Shoe",
          },
          navigator: { userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", language: "en-US" },
          window: { innerWidth: 390, screen: { width: 390 } },
        },
        data,
        ...extra,
      });
      return true;
    },
    consent(allowed) {
      for (const cb of consentHandlers) cb({ customerPrivacy: { analyticsProcessingAllowed: allowed } });
    },
    pagehide() {
      for (const cb of pagehide) cb();
    },
  };
}

const productVariant = {
  id: "4567",
  title: "Blue / 42",
  sku: "SHOE-B-42",
  price: { amount: 89.5, currencyCode: "EUR" },
  product: { id: "123", title: "Trail shoe", vendor: "Acme", type: "Shoes", url: "/products/shoe" },
};
const checkoutData = {
  checkout: {
    token: "chk_tok_1",
    currencyCode: "EUR",
    email: "jane@example.com",
    phone: "+4912345",
    totalPrice: { amount: 99.5, currencyCode: "EUR" },
    subtotalPrice: { amount: 89.5, currencyCode: "EUR" },
    shippingLine: { price: { amount: 10, currencyCode: "EUR" } },
    discountApplications: [{ title: "WELCOME10" }],
    lineItems: [{ quantity: 1, variant: productVariant }],
    shippingAddress: { address1: "1 Main St", city: "Berlin", provinceCode: "BE", countryCode: "DE", zip: "10115" },
    order: { id: "9001", customer: { id: "777" } },
  },
};

beforeEach(() => mock.timers.enable({ apis: ["setTimeout"] }));
afterEach(() => mock.timers.reset());

test("subscribes to every standard event and our custom events, once each", () => {
  const h = harness();
  assert.deepEqual([...h.handlers.keys()].sort(), [...pixel.STANDARD_EVENTS, ...pixel.CUSTOM_EVENTS].sort());
  assert.equal(pixel.STANDARD_EVENTS.length, 13);
  assert.equal(shopify.registered.length, 1, "register is called once, at import");

  // The callback Shopify receives wires the same subscriptions.
  const seen = [];
  shopify.registered[0]({
    analytics: { subscribe: (name) => seen.push(name) },
    browser: {},
    init: { data: {}, customerPrivacy: { analyticsProcessingAllowed: true } },
    settings: SETTINGS,
    customerPrivacy: { subscribe() {} },
  });
  assert.deepEqual(seen.sort(), [...h.handlers.keys()].sort());
});

test("without analytics consent nothing is sent; consent given later takes effect", () => {
  const h = harness({ consent: false });
  for (let i = 0; i < 25; i += 1) h.emit("page_viewed");
  mock.timers.tick(pixel.FLUSH_DELAY_MS * 2);
  h.pagehide();
  assert.equal(h.beacons.length, 0);
  assert.equal(h.handle.buffered(), 0);

  h.consent(true);
  h.emit("product_viewed", { productVariant });
  mock.timers.tick(pixel.FLUSH_DELAY_MS);
  assert.equal(h.beacons.length, 1);
  assert.deepEqual(
    h.beacons[0].batch.events.map((e) => e.name),
    ["product_viewed"],
  );
});

test("withdrawn consent drops what is buffered and sends nothing more", () => {
  const h = harness();
  h.emit("page_viewed");
  h.emit("product_viewed", { productVariant });
  assert.equal(h.handle.buffered(), 2);
  h.consent(false);
  assert.equal(h.handle.buffered(), 0);
  mock.timers.tick(pixel.FLUSH_DELAY_MS * 3);
  h.emit("checkout_completed", checkoutData);
  h.pagehide();
  assert.equal(h.beacons.length + h.fetches.length, 0);
});

test("batches flush at MAX_BATCH events, after the delay, before navigations and on pagehide", () => {
  const h = harness();
  for (let i = 0; i < pixel.MAX_BATCH - 1; i += 1) h.emit("page_viewed");
  assert.equal(h.beacons.length, 0, "nothing leaves before the batch is full or the timer fires");
  h.emit("page_viewed");
  assert.equal(h.beacons.length, 1);
  assert.equal(h.beacons[0].batch.events.length, pixel.MAX_BATCH);

  h.emit("search_submitted", { searchResult: { query: "trail shoes", productVariants: [productVariant] } });
  mock.timers.tick(pixel.FLUSH_DELAY_MS - 1);
  assert.equal(h.beacons.length, 1);
  mock.timers.tick(1);
  assert.equal(h.beacons.length, 2);
  assert.equal(h.beacons[1].batch.events[0].data.query, "trail shoes");

  h.emit("page_viewed");
  h.emit("product_added_to_cart", { cartLine: { quantity: 2, merchandise: productVariant, cost: { totalAmount: { amount: 179, currencyCode: "EUR" } } } });
  assert.equal(h.beacons.length, 3, "add to cart is sent at once (a navigation usually follows)");
  assert.deepEqual(h.beacons[2].batch.events.map((e) => e.name), ["page_viewed", "product_added_to_cart"]);

  h.emit("collection_viewed", { collection: { id: "55", title: "Shoes", productVariants: [productVariant] } });
  h.pagehide();
  assert.equal(h.beacons.length, 4);
  mock.timers.tick(pixel.FLUSH_DELAY_MS * 2);
  assert.equal(h.beacons.length, 4, "the timer of a flushed batch does not send an empty one");
  const ids = h.beacons.flatMap((b) => b.batch.events.map((e) => e.id));
  assert.equal(new Set(ids).size, ids.length, "no event is sent twice");
});

test("payload: shop, key, client, compact context and data, no e-mail/phone/street", () => {
  const h = harness({ customer: { id: "777", email: "jane@example.com" } });
  h.emit("product_viewed", { productVariant });
  h.emit("checkout_completed", checkoutData);
  assert.equal(h.beacons.length, 1);
  const { url, batch, bytes } = h.beacons[0];
  assert.equal(url, "https://attune.test/pixel/events");
  assert.equal(batch.shop, "alpha.myshopify.com");
  assert.equal(batch.pixelKey, SETTINGS.shopKey);
  assert.equal(batch.clientId, "client-abc");
  assert.equal(batch.customerId, "777");
  assert.equal(typeof batch.timeZone, "string");
  assert.ok(!Number.isNaN(Date.parse(batch.sentAt)));
  const [viewed, completed] = batch.events;
  assert.match(viewed.id, /^evt-/);
  assert.equal(viewed.name, "product_viewed");
  assert.equal(viewed.type, "standard");
  assert.ok(!Number.isNaN(Date.parse(viewed.timestamp)));
  assert.equal(viewed.context.url.includes("utm_source=news"), true);
  assert.equal(viewed.context.referrer, "https://www.google.com/");
  assert.equal(viewed.context.viewportWidth, 390);
  assert.deepEqual(viewed.data.variant.product, productVariant.product);
  assert.deepEqual(viewed.data.variant.price, { amount: 89.5, currencyCode: "EUR" });
  assert.equal(completed.data.checkout.token, "chk_tok_1");
  assert.equal(completed.data.checkout.orderId, "9001");
  assert.equal(completed.data.checkout.customerId, "777");
  assert.equal(completed.data.checkout.city, "Berlin");
  assert.equal(completed.data.checkout.countryCode, "DE");
  assert.deepEqual(completed.data.checkout.discounts, ["WELCOME10"]);
  const text = JSON.stringify(batch);
  for (const secret of ["jane@example.com", "+4912345", "1 Main St", "10115"]) {
    assert.ok(!text.includes(secret), `${secret} must not leave the browser`);
  }
  assert.ok(bytes < 8192, `a small batch stays small (${bytes} bytes)`);
});

test("custom events carry their data; oversized custom data is cut", () => {
  const h = harness();
  h.emit("attune:shipping_notice_lingered", {}, { customData: { source: "cart", seconds: 4 } });
  h.emit("attune:assistant_opened", {}, { customData: { blob: "x".repeat(10000) } });
  h.handle.flush();
  const [lingered, opened] = h.beacons[0].batch.events;
  assert.equal(lingered.type, "custom");
  assert.deepEqual(lingered.data.custom, { source: "cart", seconds: 4 });
  assert.deepEqual(opened.data.custom, { truncated: true });
});

test("falls back to fetch keepalive when sendBeacon is missing or refuses", async () => {
  const refused = harness({ beaconOk: false });
  refused.emit("checkout_started", checkoutData);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(refused.beacons.length, 1);
  assert.equal(refused.fetches.length, 1);

  const noBeacon = harness({ withBeacon: false });
  noBeacon.emit("checkout_started", checkoutData);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(noBeacon.fetches.length, 1);
  const { url, options, batch } = noBeacon.fetches[0];
  assert.equal(url, "https://attune.test/pixel/events");
  assert.equal(options.method, "POST");
  assert.equal(options.keepalive, true);
  assert.equal(options.credentials, "omit");
  assert.match(options.headers["Content-Type"], /^text\/plain/, "a simple request: no CORS preflight");
  assert.equal(batch.events[0].name, "checkout_started");
});

test("without settings the pixel stays silent", () => {
  const h = harness({ settings: { accountID: "alpha.myshopify.com" } });
  assert.equal(h.handlers.size, 0);
  assert.equal(h.emit("page_viewed"), false);
});
