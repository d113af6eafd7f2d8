"""Channel adapters: how a decided message reaches the shopper (email over SMTP now; SMS, push, on-site and
Shopify Flow implement the same interface, ``app.channels.base.Channel``). Each has a loopback stand-in beside
it for tests and the demo. Only jobs (the outbox relay) and stores use them."""
