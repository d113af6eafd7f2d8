// Module resolution hook: the Shopify package resolves to the local test double.
export async function resolve(specifier, context, nextResolve) {
  if (specifier === "@shopify/web-pixels-extension") {
    return { url: new URL("./fake-shopify.mjs", import.meta.url).href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
