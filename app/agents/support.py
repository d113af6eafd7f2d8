"""The support agent behind the storefront assistant: what a shopper's question is about, and the answer the
shop's own data allows. Pure: the question and plain facts in, a ``Reply`` out.

Topics, decided by keywords (so every answer can say why):
- ``order_status``: where an order is. Answered from the signed-in customer's latest order.
- ``order_change`` (cancel, change the address …) and ``returns``: a person must act. The answer says so,
  names the order it is about when there is one, and escalates.
- ``shop_info`` (discount codes, payment, contact, opening hours, the account): no data here; escalated.
- ``product``: anything else that reads like a product wish. Answered with in-stock products from the shop's
  search; escalated when nothing matches. When the best match is sold out the answer says so and offers to
  tell the shopper when it is back (its ``notify`` variants: the assistant's "notify me"), with the in-stock
  matches after it.

Questions about the shop and its products that are not about the shopper's own order (policies, shipping
times, returns, sizes, materials …) are answered first from the shop's knowledge: the best passage, word for
word, with its source (``app.knowledge``), when its confidence reaches the threshold. Below it the agent
abstains, and the question goes to a person unless product search answers a product wish.

``escalated`` is honest: the assistant never pretends to have solved what it handed to a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.knowledge.answer import GroundedAnswer
from app.knowledge.order_status import LATE_TEXT, NOT_FOUND, Shipment, late, tracking_text

TOPICS = ("order_status", "order_change", "returns", "shop_info", "product")
MAX_QUESTION = 500

_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "returns",
        re.compile(r"\b(return(s|ing|ed)?|refund(s|ed)?|exchange|send (it |them )?back|money back)\b"),
    ),
    (
        "order_change",
        re.compile(r"\b(cancel(l?ed|l?ing)?|change (my |the )?(order|address)|wrong (address|item|size))\b"),
    ),
    (
        "order_status",
        re.compile(
            r"\b(where('?s| is) my|track(ing)?|shipped|shipping status|dispatch(ed)?|deliver(y|ed)?|arrive[ds]?"
            r"|order status|status of my|my (last |latest )?order|my (package|parcel))\b"
        ),
    ),
    (
        "shop_info",
        re.compile(
            r"\b(discount|coupon|promo( code)?|voucher|gift card|payment|pay with|invoice|contact|phone number"
            r"|opening hours|open(ing)? times|your address|password|log ?in|sign ?in|account|privacy|unsubscribe)\b"
        ),
    ),
]
ESCALATION = "I've passed your question to the shop: a person from the shop will reply."
_OWN_ORDER = re.compile(
    r"\b(my|mine|i (ordered|bought|paid|purchased)|we (ordered|bought))\b|#\s?\d{3,}|\border\s*(no\.?|number)?\s*\d{3,}"
)


@dataclass(frozen=True)
class OrderFacts:
    """One order the shopper may ask about (the signed-in customer's latest, or the one whose number and e-mail
    they gave), as the shop's mirror has it."""

    name: str
    placed_at: datetime | None
    financial_status: str | None
    fulfillment_status: str | None
    cancelled: bool
    items: int
    status_url: str | None = None
    shipments: tuple[Shipment, ...] = ()
    latest: bool = True  # the signed-in customer's latest order (else: the one they named)


@dataclass(frozen=True)
class ProductFacts:
    product_id: int
    title: str
    url: str
    price: str | None
    currency: str | None
    sold_out: bool = False  # nothing of it can be bought now
    notify: tuple[tuple[int, str], ...] = ()  # (variant id, title) of its sold-out variants: "notify me"

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> ProductFacts:
        """From a storefront product card (``app.stores.catalog.product_cards``, plus ``sold_out``/``notify``)."""
        notify = tuple((int(v["variant_id"]), str(v["title"])) for v in card.get("notify") or ())
        fields = (card["product_id"], card["title"], card["url"], card.get("price"), card.get("currency"))
        return cls(*fields, sold_out=bool(card.get("sold_out")), notify=notify)


@dataclass(frozen=True)
class Reply:
    topic: str
    text: str
    escalated: bool
    reason: str  # why this answer (for the admin and the tests)
    order: str | None = None
    products: tuple[ProductFacts, ...] = field(default=())
    source: GroundedAnswer | None = None  # the passage a knowledge answer quotes
    abstained: bool = False  # the shop's knowledge had no confident answer
    handoff: str | None = None  # the hand-off rule that sent it to a person (app.agents.support_handoff)


def clean_question(text: str) -> str:
    """Whitespace collapsed, at most MAX_QUESTION characters."""
    return " ".join(text.split())[:MAX_QUESTION]


def classify(question: str) -> str:
    """The question's topic (see the module docstring); the first matching rule wins."""
    text = question.lower().replace("’", "'")
    for topic, pattern in _RULES:
        if pattern.search(text):
            return topic
    return "product"


def about_own_order(question: str) -> bool:
    """Whether the question is about the shopper's own order ("where is my parcel?") rather than the shop's
    rules ("how long does delivery take?")."""
    return bool(_OWN_ORDER.search(question.lower().replace("’", "'")))


def wants_knowledge(question: str, topic: str) -> bool:
    """Whether the shop's knowledge should be asked first: everything except the shopper's own order."""
    if topic in ("order_status", "order_change"):
        return not about_own_order(question)
    return True


def order_state(order: OrderFacts) -> str:
    if order.cancelled:
        return "was cancelled"
    if (order.financial_status or "").lower() in ("refunded",):
        return "was refunded"
    fulfillment = (order.fulfillment_status or "").lower()
    if fulfillment == "fulfilled":
        return "has shipped"
    if fulfillment in ("partial", "partially_fulfilled"):
        return "has partly shipped"
    if (order.financial_status or "").lower() in ("pending", "authorized"):
        return "is waiting for payment"
    return "is confirmed and not shipped yet"


def _order_line(order: OrderFacts) -> str:
    when = f", placed on {order.placed_at:%d %b %Y}," if order.placed_at else ""
    # a visitor who named the order learns its state and shipments only: not even how many items it holds
    items = f" ({order.items} item{'s' if order.items != 1 else ''})" if order.items and order.latest else ""
    which = "Your latest order" if order.latest else "Your order"
    return f"{which} {order.name}{items}{when} {order_state(order)}."


def answer(
    question: str,
    *,
    signed_in: bool,
    order: OrderFacts | None = None,
    products: list[ProductFacts] | None = None,
    topic: str | None = None,
    knowledge: GroundedAnswer | None = None,
    knowledge_asked: bool = False,
    reference_given: bool = False,
    promise: tuple[int, int] | None = None,
    now: datetime | None = None,
) -> Reply:
    """The reply to ``question`` from the facts given (``order``: the signed-in customer's latest order;
    ``products``: the shop's search results for the question, None when search is unavailable;
    ``knowledge``: the shop's grounded answer, None when it abstained or was not asked (``knowledge_asked``);
    ``reference_given``: an anonymous shopper gave an order number and e-mail (``order`` is the match, or None
    for no match, which is all they learn); ``promise``: the shipping policy's delivery time in days)."""
    topic = topic or classify(question)
    if knowledge is not None and wants_knowledge(question, topic):
        return Reply(
            topic,
            knowledge.text,
            False,
            f"from the shop's {knowledge.kind} ({knowledge.confidence:.0%} confident)",
            source=knowledge,
        )
    abstained = knowledge_asked and wants_knowledge(question, topic)
    reply = _from_facts(question, signed_in, order, products, topic, reference_given, promise, now)
    if abstained and reply.escalated:
        return Reply(
            reply.topic,
            reply.text,
            True,
            "the shop's knowledge has no confident answer; " + reply.reason,
            reply.order,
            reply.products,
            abstained=True,
        )
    return reply


def _from_facts(
    question: str,
    signed_in: bool,
    order: OrderFacts | None,
    products: list[ProductFacts] | None,
    topic: str,
    reference_given: bool = False,
    promise: tuple[int, int] | None = None,
    now: datetime | None = None,
) -> Reply:
    if topic == "order_status":
        return _order_status(signed_in, order, reference_given, promise, now)
    if topic in ("order_change", "returns"):
        about = _order_line(order) + " " if signed_in and order is not None else ""
        what = "returns" if topic == "returns" else "changes to an order"
        return Reply(
            topic,
            about + ESCALATION,
            True,
            f"{what} need a person from the shop",
            order.name if about and order else None,
        )
    if topic == "shop_info":
        return Reply(topic, ESCALATION, True, "a question about the shop that its data does not answer")
    gone = products[0] if products and products[0].sold_out and products[0].notify else None
    in_stock = [p for p in products or () if not p.sold_out]  # a sold-out product is shown only as the best
    if gone is not None:
        text = f"{gone.title} is sold out right now. I can tell you when it's back: leave your e-mail below."
        if in_stock:
            text += f" In stock now: {', '.join(p.title for p in in_stock)}."
        return Reply(
            topic,
            text,
            False,
            "the best match is sold out: a notify-me is offered"
            + ("; in-stock products from the shop's search" if in_stock else ""),
            products=(gone, *in_stock),
        )
    if not in_stock:
        why = "product search is not available" if products is None else "no product in stock matched"
        return Reply(topic, "I couldn't find a product in stock that matches. " + ESCALATION, True, why)
    names = ", ".join(p.title for p in in_stock)
    return Reply(
        topic,
        f"Here is what I found in the shop: {names}.",
        False,
        "products from the shop's search",
        products=tuple(in_stock),
    )


def _order_status(
    signed_in: bool,
    order: OrderFacts | None,
    reference_given: bool,
    promise: tuple[int, int] | None,
    now: datetime | None,
) -> Reply:
    topic = "order_status"
    if order is None and reference_given:  # no match: the same words whether the order exists or not
        return Reply(topic, NOT_FOUND, False, "no order with that number and e-mail")
    if not signed_in and not reference_given:  # whatever the facts hold, a visitor learns nothing of an order
        return Reply(
            topic,
            "I can look up an order if you sign in, or if you give me its number and the e-mail it was placed "
            "with (for example: order #4321, jo@example.com).",
            False,
            "order question from a visitor who is not signed in and named no order",
        )
    if order is None:
        return Reply(topic, "I can't find an order on your account. " + ESCALATION, True, "no order found")
    whose = (
        "latest order of the signed-in customer"
        if order.latest
        else "the order whose number and e-mail were given"
    )
    if not order.cancelled and now is not None and late(order.placed_at, order.shipments, promise, now):
        return Reply(
            topic, f"{_order_line(order)} {LATE_TEXT}", True, f"{whose}: late against the shipping policy",
            order.name, handoff="late_order",
        )  # fmt: skip
    detail = "" if order.cancelled else tracking_text(order.shipments, order.status_url, promise)
    return Reply(topic, f"{_order_line(order)} {detail}".strip(), False, whose, order.name)
