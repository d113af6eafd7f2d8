"""A shop's knowledge for the support agent: passages (``passages``), grounded retrieval with a confidence
(``ranker``), the extractive answer (``answer``) and the guard against invented claims (``guard``). Pure."""
