"""The page ``attune bench memory`` writes (``benchmarks/memory.md``): its figures next to the targets and the
peer measured in the same run."""

from __future__ import annotations

import os

from app.bench.memory_load import HEAVY_JOBS, LIGHT_JOBS, REQUEST_MIX

WEB_TARGET_MIB = 250.0
WORKER_TARGET_MIB = 1536.0  # 1.5 GiB
NOISE_MIB = 10.0  # growth below this, after warm-up, is allocator and cache noise


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def _growth(samples: list[tuple[int, dict[int, dict[str, float]]]]) -> float:
    """The largest growth of one worker's VmRSS from the warm-up sample to the last."""
    first, last = samples[0][1], samples[-1][1]
    return max((last[p]["VmRSS"] - first[p]["VmRSS"] for p in last if p in first), default=float("nan"))


def _peak(sample: dict[int, dict[str, float]], key: str = "VmRSS") -> float:
    return max((m.get(key, float("nan")) for m in sample.values()), default=float("nan"))


def _rss_list(sample: dict[int, dict[str, float]]) -> str:
    return ", ".join(f"{m['VmRSS']:.0f}" for m in sample.values())


def _verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def markdown(web: dict, worker: dict, opts: dict) -> str:
    ours, peer = web["ours"], web["peer"]
    n_workers = len(ours["samples"][-1][1])
    lines = [
        "# Memory: web and RQ worker resident memory, after warm-up and after mixed load",
        "",
        f"Command: `{opts['command']}`",
        "",
        f"Machine: {os.cpu_count()} CPUs, Linux; load average {os.getloadavg()[0]:.1f} at the end of the run"
        " (shared machine: latencies are noisy, memory is not). MiB throughout.",
        "",
        "## Web workers",
        "",
        f"gunicorn `app.gunicorn_conf` ({n_workers} workers each), the demo shop with MiniLM product vectors;"
        f" {opts['warmup']} warm-up requests, then {ours['requests']} measured requests per server in"
        f" {opts['rounds']} alternating rounds, per 100: "
        + ", ".join(f"{share} {kind}" for kind, share in REQUEST_MIX)
        + ".",
        "",
        "| web worker (largest of its workers) | VmRSS after warm-up | VmRSS after the requests | growth |"
        " PSS after | anon / file after | target ≤ 250 MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, run in (("**ours**: queries embedded by MiniLM on NumPy", ours),
                       ("peer: torch in every web worker (before)", peer)):  # fmt: skip
        last = run["samples"][-1][1]
        after, warm = _peak(last), _peak(run["samples"][0][1])
        lines.append(
            f"| {label} | {warm:.0f} | {after:.0f} | {_growth(run['samples']):+.1f} | {_peak(last, 'Pss'):.0f}"
            f" | {_peak(last, 'RssAnon'):.0f} / {_peak(last, 'RssFile'):.0f} |"
            f" {_verdict(max(warm, after), WEB_TARGET_MIB)} |"
        )
    ratio = _peak(ours["samples"][-1][1]) / _peak(peer["samples"][-1][1])
    lines += [
        "",
        f"Ours / peer VmRSS after the requests: **{ratio:.2f}×**. Growth after warm-up, target below"
        f" {NOISE_MIB:.0f} MiB (noise): ours {'flat' if _growth(ours['samples']) < NOISE_MIB else 'GROWING'},"
        f" peer {'flat' if _growth(peer['samples']) < NOISE_MIB else 'GROWING'}. Failed requests: ours"
        f" {ours['failed']}, peer {peer['failed']}.",
        "",
        "VmRSS of every worker after each round (requests served so far):",
        "",
        "| requests | ours | peer |",
        "|---|---|---|",
    ]
    for (n, a), (_, b) in zip(ours["samples"], peer["samples"], strict=True):
        lines.append(f"| {n} | {_rss_list(a)} | {_rss_list(b)} |")
    lines += ["", "| client latency, ms (p50 / p95) | ours | peer |", "|---|---|---|"]
    for kind, _ in REQUEST_MIX:
        a, b = ours["latency"].get(kind, []), peer["latency"].get(kind, [])
        lines.append(
            f"| {kind} ({len(a)}) | {_pct(a, 0.5):.1f} / {_pct(a, 0.95):.1f} |"
            f" {_pct(b, 0.5):.1f} / {_pct(b, 0.95):.1f} |"
        )
    lines += [
        "",
        "## RQ worker",
        "",
        "Jobs per 100: "
        + ", ".join(f"{share} {kind}" for kind, share in LIGHT_JOBS)
        + ", and one each of "
        + ", ".join(f"`{name.rsplit('.', 1)[1]}`" for name, _ in HEAVY_JOBS)
        + f"; {opts['warmup_jobs']} warm-up jobs each. Two workers with the same preloads (MiniLM on torch,"
        " the intent model), one after the other: first the worker running its jobs in its own process (RQ's"
        " `SimpleWorker`), where whatever a job leaves behind stays: the growth test; it first drains what"
        " the web phase's requests queued (their webhooks, pixel batches and follow-ups), before its"
        " warm-up. Then `attune worker` as deployed, which forks a work horse per job (its jobs cannot leave"
        " anything behind in the worker process; a horse holds the preloaded models plus what its job loads).",
        "",
        "| RQ worker | jobs | VmRSS after warm-up | VmRSS after the jobs | growth | peak (VmHWM) | target ≤ 1.5 GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, run in (("jobs in process (`SimpleWorker`)", worker["in_process"]),
                       ("`attune worker` (forked horses): worker process", worker["forked"])):  # fmt: skip
        first, last = run["samples"][0][1], run["samples"][-1][1]
        growth = last.get("VmRSS", float("nan")) - first.get("VmRSS", float("nan"))
        lines.append(
            f"| {label} | {run['samples'][-1][0]} | {first.get('VmRSS', 0):.0f} | {last.get('VmRSS', 0):.0f} |"
            f" {growth:+.1f} | {last.get('VmHWM', 0):.0f} | {_verdict(last.get('VmHWM', 0), WORKER_TARGET_MIB)} |"
        )
    forked = worker["forked"]
    horse = forked["horse_peak"]
    lines += [
        f"| largest work horse seen ({forked['horses_seen']} horses, sampled every 20 ms) | - | - |"
        f" {horse.get('VmRSS', 0):.0f} (PSS {horse.get('Pss', 0):.0f}) | - | {horse.get('VmHWM', 0):.0f} |"
        f" {_verdict(horse.get('VmHWM', 0), WORKER_TARGET_MIB)} |",
        "",
    ]
    for label, run in (("in process", worker["in_process"]), ("forked", forked)):
        lines.append(
            f"VmRSS after each round, {label}: "
            + ", ".join(f"{m.get('VmRSS', 0):.0f} ({n} jobs)" for n, m in run["samples"])
            + f". Jobs finished {run['done']}, failed {run['failed']} (follow-ups the jobs queue included)."
        )
    lines.append("")
    return "\n".join(lines)
