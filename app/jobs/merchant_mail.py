"""An e-mail to the merchant (the weekly digest, a support hand-off): through the shop's own e-mail channel to its
reply-to address, else its sender address. No shopper's message, so no outbox row and no budget."""

from __future__ import annotations

from typing import Any

from app.channels.base import OutgoingMessage, Sender
from app.channels.email import EmailChannel, SmtpTarget


def send_to_merchant(
    sender: Sender, smtp_url: str, shop_id: int, template: str, data: dict[str, Any], tag: str
) -> None:
    """Send ``template`` with ``data`` to the shop's own address; ``tag`` names the message in its Message-ID
    (a resend of the same one is recognisable). Raises ``SendError`` when it did not go out."""
    domain = sender.from_address.rpartition("@")[2] or "attune.invalid"
    message = OutgoingMessage(
        outbox_id=0,
        shop_id=shop_id,
        purpose="transactional",
        template=template,
        data=data,
        recipient=sender.reply_to or sender.from_address,
        sender=sender,
        extra={"message_id": f"<{tag}.shop-{shop_id}@{domain}>"},
    )
    EmailChannel(SmtpTarget.parse(smtp_url)).send(message)
