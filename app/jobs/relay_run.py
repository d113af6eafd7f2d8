"""What a relay run keeps across its batches (``Held``: the clients it holds open, each shop's channel setup
and allowed hours) and how a batch's messages go out (``send_all``), for ``app.jobs.outbox``."""

from __future__ import annotations

from collections.abc import Hashable
from contextlib import ExitStack, nullcontext
from datetime import time
from typing import Any

from app.channels.base import Accepted, Channel, OutgoingMessage, SendError, held_open
from app.stores.outbox_rows import RelayRow


class Held:
    """What a relay run keeps across its batches: the clients it holds open (``hold()``: one SMTP session, one
    HTTP connection), as the peer of ``attune bench outbox`` keeps one for a whole round, and each shop's
    channel setup (``setups``) and allowed hours (``hours``), read by the first batch that needs them. A run
    takes at most ``app.jobs.outbox.MAX_BATCHES`` batches (about a second of SMS), so a settings change reaches
    the relay at its next run. A client is used only while it equals the one held (``key``: the same server,
    account and credentials), else it replaces it. A client without ``key`` is held for its batch."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._clients: dict[tuple[int, str], Channel] = {}
        self.setups: dict[Hashable, Any] = {}
        self.hours: dict[int, tuple[time, time, str]] = {}

    def client(self, shop_id: int, channel: Channel, batch: ExitStack) -> Channel:
        key = getattr(channel, "key", None)
        if key is None:
            batch.enter_context(held_open(channel))
            return channel
        held = self._clients.get((shop_id, channel.name))
        if held is not None and getattr(held, "key", None) == key:
            return held
        self._clients[(shop_id, channel.name)] = channel
        self._stack.enter_context(held_open(channel))  # the one replaced closes when the run ends
        return channel

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def send_all(
    prepared: list[tuple[RelayRow, Channel, OutgoingMessage]], held: Held | None = None
) -> list[Accepted | SendError]:
    """Each message through its channel, in order; the rows of one shop and channel share one client (the
    first row's, prepared from the same settings in the same transaction, or the equal one ``held`` keeps
    open from an earlier batch) and its connection."""
    outcomes: dict[int, Accepted | SendError] = {}
    with ExitStack() as batch, nullcontext(held) if held else Held() as run:
        clients: dict[tuple[int, str], Channel] = {}
        for row, channel, _ in prepared:
            if (row.shop_id, row.channel) not in clients:
                clients[(row.shop_id, row.channel)] = run.client(row.shop_id, channel, batch)
        for row, _, message in prepared:
            try:
                outcomes[row.id] = clients[(row.shop_id, row.channel)].send(message)
            except SendError as exc:
                outcomes[row.id] = exc
    return [outcomes[row.id] for row, _, _ in prepared]
