// Test double for @shopify/web-pixels-extension: `register` keeps the extension's callback so the
// harness can call it with its own analytics / browser / init / customerPrivacy objects.
export const registered = [];
export function register(callback) {
  registered.push(callback);
}
