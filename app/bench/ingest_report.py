"""The ingest bench's figures and page: per client mode, both servers' throughput and latency and the
ratio between them, overall and per alternating round; then what was sent, acknowledged and stored."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

P99_TARGET_MS, RATIO_TARGET = 50.0, 0.5


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank); 0 for none."""
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


@dataclass(slots=True)
class Server:
    """One server's measured rounds in one client mode: (latencies in ms, seconds) per round, and the CPU
    seconds the server's processes used meanwhile."""

    rounds: list[tuple[list[float], float]] = field(default_factory=list)
    cpu: float = 0.0

    def add(self, latencies: list[float], seconds: float, cpu: float = 0.0) -> None:
        self.rounds.append((latencies, seconds))
        self.cpu += cpu

    @property
    def cpu_per_request_us(self) -> float:
        n = len(self.latencies)
        return self.cpu / n * 1e6 if n else 0.0

    @property
    def latencies(self) -> list[float]:
        return [ms for part, _ in self.rounds for ms in part]

    @property
    def rate(self) -> float:
        seconds = sum(s for _, s in self.rounds)
        return len(self.latencies) / seconds if seconds else 0.0

    def round_rates(self) -> list[float]:
        return [len(part) / s if s else 0.0 for part, s in self.rounds]


@dataclass(slots=True)
class Mode:
    """Both servers in one client mode, measured in alternating rounds."""

    name: str
    load: str  # how the clients drive the servers, in words
    webhooks: Server = field(default_factory=Server)
    hello: Server = field(default_factory=Server)

    @property
    def ratio(self) -> float:
        return self.webhooks.rate / self.hello.rate if self.hello.rate else 0.0

    def round_ratios(self) -> list[float]:
        return [
            w / h if h else 0.0
            for w, h in zip(self.webhooks.round_rates(), self.hello.round_rates(), strict=True)
        ]

    def table_rows(self) -> list[str]:
        w, h = self.webhooks.latencies, self.hello.latencies
        return [
            f"| {self.name}: measured requests | {len(w)} | {len(h)} |",
            f"| {self.name}: throughput (req/s) | {self.webhooks.rate:.0f} | {self.hello.rate:.0f} |",
            f"| {self.name}: latency p50 (ms) | {pct(w, 0.5):.2f} | {pct(h, 0.5):.2f} |",
            f"| {self.name}: latency p99 (ms) | {pct(w, 0.99):.2f} | {pct(h, 0.99):.2f} |",
            f"| {self.name}: server CPU per request (µs) | {self.webhooks.cpu_per_request_us:.0f} | "
            f"{self.hello.cpu_per_request_us:.0f} |",
        ]

    def verdict(self) -> str:
        ratio, rounds, p99 = self.ratio, self.round_ratios(), pct(self.webhooks.latencies, 0.99)
        return (
            f"{self.name.capitalize()}: throughput ratio **{ratio:.3f}×** hello-world (goal ≥ {RATIO_TARGET}×: "
            f"{'met' if ratio >= RATIO_TARGET else 'NOT met'}); per round: "
            + ", ".join(f"{r:.2f}×" for r in rounds)
            + (f" (median {statistics.median(rounds):.2f}×)" if rounds else "")
            + f"; p99 **{p99:.2f} ms** (goal ≤ {P99_TARGET_MS:.0f} ms: "
            f"{'met' if p99 <= P99_TARGET_MS else 'NOT met'})."
        )


@dataclass(slots=True)
class Tally:
    """Every webhook sent to the webhooks server (warm-up included) and what became of it."""

    sent: int = 0
    ok: int = 0
    stored: int = 0
    lost: int = 0  # acknowledged with a 2xx, yet not in the inbox
    not_queued: int = 0  # stored, yet carried by no queued job
    jobs: int = 0

    @property
    def non_2xx(self) -> int:
        return self.sent - self.ok

    def line(self) -> str:
        return (
            f"Webhooks sent (incl. warm-up, both modes): {self.sent}; 2xx: {self.ok}; non-2xx: "
            f"**{self.non_2xx}**; inbox rows stored: {self.stored}; lost (acknowledged, not stored): "
            f"**{self.lost}**; rows without a queued job: **{self.not_queued}** ({self.jobs} jobs queued)."
        )


def render(
    *,
    command: str,
    machine: str,
    server: str,
    modes: list[Mode],
    commit_ms: float,
    tally: Tally,
    body_kb: float,
) -> str:
    """The page's generated part."""
    lines = [
        "# Benchmark: webhook ingest (POST /webhooks)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine}.",
        f"Server: {server}",
        f"Requests: signed `orders/create` (about {body_kb:.1f} KB), unique event ids, the same for both "
        "servers, sent only after every gunicorn worker of both has finished starting. Client modes:",
        "",
        *[f"- {m.name}: {m.load}" for m in modes],
        "",
        "| figure | POST /webhooks | bare WSGI hello-world |",
        "|---|---|---|",
        *[row for m in modes for row in m.table_rows()],
        "",
        *[m.verdict() for m in modes],
        "",
        f"Same database, same run: one durable inbox commit on its own (one writer, a batch of one, no "
        f"HTTP/HMAC/Redis) takes **{commit_ms:.2f} ms** (median). Every webhook's row is committed before its "
        "200; concurrent deliveries in one worker share a commit (group commit), and the job is queued after "
        "the 200 by a background thread.",
        "",
        tally.line(),
        "",
    ]
    return "\n".join(lines)
