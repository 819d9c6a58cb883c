"""Our runtime loop (``python -m mangum_like.runtime``) against the official runtime interface
client (``awslambdaric``): the same handlers, the same Runtime API emulator
(``tests/lambda_emulator.py``), one runtime process each, measured interleaved.

Run from the repository root::

    .venv/bin/python benchmarks/runtime_bench.py           # about a minute on 2 cores
    .venv/bin/python benchmarks/runtime_bench.py --quick   # smoke run

- Warm round trip: from handing the event to the Runtime API until the runtime's answer is in,
  per invocation; rounds alternate between the runtimes, medians over rounds are reported.
- Cold start: from process start to the runtime's first ``/next`` (the handler module imported,
  which both runtimes do first), fresh processes, alternating.
- Time to first byte with response streaming: the prelude and the first event of a 5-event SSE
  response (50 ms apart) as they reach the Runtime API, beside the buffered answer's time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lambda_emulator import RuntimeAPIEmulator  # noqa: E402

OURS = (sys.executable, "-m", "mangum_like.runtime")
OFFICIAL = (sys.executable, "-m", "awslambdaric")
RUNTIMES = {"mangum_like.runtime": OURS, "awslambdaric": OFFICIAL}
ENV = {"PYTHONPATH": str(Path(__file__).resolve().parent)}
# The official client polls /next from a worker thread on python3.12 and later (so that the main
# thread can take signals), directly on earlier runtimes: both are measured.
EXECUTION_ENVS = ("AWS_Lambda_python3.12", "AWS_Lambda_python3.11")


def url_event(path: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "abc.lambda-url.us-east-1.on.aws", "x-forwarded-proto": "https"},
        "requestContext": {
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"},
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def start(argv: Sequence[str], handler: str, env: dict[str, str]) -> RuntimeAPIEmulator:
    emulator = RuntimeAPIEmulator().__enter__()
    emulator.start([*argv, handler], {**ENV, **env}, cwd=str(ROOT))
    emulator.wait_init(60)
    return emulator


def warm(
    rounds: int, number: int, handler: str, event: Any, execution_env: str
) -> dict[str, list[float]]:
    """Per-invocation round trip in microseconds, one median per round and runtime."""
    env = {"AWS_EXECUTION_ENV": execution_env}
    emulators = {name: start(argv, handler, env) for name, argv in RUNTIMES.items()}
    per_round: dict[str, list[float]] = {name: [] for name in RUNTIMES}
    try:
        for emulator in emulators.values():
            for _ in range(50):  # warm-up: imports done, caches filled
                check(emulator.invoke(event))
        for index in range(rounds):
            order = list(emulators.items())
            if index % 2:
                order.reverse()
            for name, emulator in order:
                times = []
                for _ in range(number):
                    began = time.perf_counter()
                    check(emulator.invoke(event))
                    times.append(time.perf_counter() - began)
                per_round[name].append(statistics.median(times) * 1e6)
    finally:
        for emulator in emulators.values():
            emulator.close()
    return per_round


def check(invocation: Any) -> None:
    if invocation.kind != "response":
        raise RuntimeError(f"the runtime answered {invocation.kind}: {invocation.body[:300]!r}")


def cold(runs: int, handler: str) -> dict[str, list[float]]:
    """Milliseconds from process start to the first /next, fresh processes, alternating."""
    results: dict[str, list[float]] = {name: [] for name in RUNTIMES}
    for index in range(runs):
        order = list(RUNTIMES.items())
        if index % 2:
            order.reverse()
        for name, argv in order:
            with RuntimeAPIEmulator() as emulator:
                began = time.perf_counter()
                env = {**ENV, "AWS_EXECUTION_ENV": EXECUTION_ENVS[0]}
                emulator.start([*argv, handler], env, cwd=str(ROOT))
                emulator.wait_init(60)
                results[name].append((time.perf_counter() - began) * 1000)
    return results


def first_bytes(runs: int) -> dict[str, list[float]]:
    """Milliseconds from the event's hand-over to the prelude, the first event, the last byte."""
    out: dict[str, list[float]] = {
        "streamed: prelude": [],
        "streamed: first event": [],
        "streamed: complete": [],
        "buffered: complete": [],
    }
    streaming = start(OURS, "runtime_apps.handler", {"MANGUM_LIKE_INVOKE_MODE": "response_stream"})
    buffered = start(OURS, "runtime_apps.handler", {})
    try:
        for _ in range(runs):
            invocation = streaming.invoke(url_event("/sse"))
            check(invocation)
            sent = invocation.sent_at
            assert sent is not None and invocation.answered_at is not None
            out["streamed: prelude"].append((invocation.chunks[0][0] - sent) * 1000)
            out["streamed: first event"].append((invocation.chunks[1][0] - sent) * 1000)
            out["streamed: complete"].append((invocation.answered_at - sent) * 1000)
            whole = buffered.invoke(url_event("/sse"))
            check(whole)
            out["buffered: complete"].append(whole.duration * 1000)
    finally:
        streaming.close()
        buffered.close()
    return out


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--output", help="also write the markdown tables here")
    args = parser.parse_args(argv)
    rounds, number, cold_runs, stream_runs = (5, 50, 4, 5) if args.quick else (21, 200, 12, 20)
    sections = [
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {rounds} rounds x {number} "
        f"invocations (warm), {cold_runs} fresh processes each (cold), {stream_runs} SSE responses."
    ]

    rows = []
    for execution_env in EXECUTION_ENVS:
        for label, handler, event in (
            ("Mangum handler, Function URL GET", "runtime_apps.handler", url_event("/hello")),
            ("plain handler(event, context)", "runtime_apps.plain", {"hello": "world"}),
        ):
            print(f"[runtime-bench] warm: {label}, {execution_env}", file=sys.stderr, flush=True)
            results = warm(rounds, number, handler, event, execution_env)
            ours = statistics.median(results["mangum_like.runtime"])
            official = statistics.median(results["awslambdaric"])
            rows.append(
                [
                    label,
                    f"`{execution_env}`",
                    f"{ours:.0f}",
                    f"{official:.0f}",
                    f"{ours / official:.2f}x",
                ]
            )
    sections.append(
        "### Warm round trip (buffered), µs per invocation, median of round medians\n\n"
        + table(
            [
                "handler",
                "AWS_EXECUTION_ENV",
                "mangum_like.runtime",
                "awslambdaric",
                "ours / official",
            ],
            rows,
        )
    )

    print("[runtime-bench] cold starts", file=sys.stderr, flush=True)
    results = cold(cold_runs, "runtime_apps.handler")
    ours = statistics.median(results["mangum_like.runtime"])
    official = statistics.median(results["awslambdaric"])
    sections.append(
        "### Cold start: process start to the first `/next` (handler imported), ms, median\n\n"
        + table(
            ["handler", "mangum_like.runtime", "awslambdaric", "ours / official"],
            [
                [
                    "Mangum handler module",
                    f"{ours:.1f}",
                    f"{official:.1f}",
                    f"{ours / official:.2f}x",
                ]
            ],
        )
    )

    print("[runtime-bench] time to first byte", file=sys.stderr, flush=True)
    ttfb = first_bytes(stream_runs)
    sections.append(
        "### Time to first byte, SSE response of 5 events 50 ms apart, ms from the event's "
        "hand-over, median\n\n"
        + table(
            ["measure", "ms"],
            [[name, f"{statistics.median(values):.1f}"] for name, values in ttfb.items()],
        )
    )
    text = "\n\n".join(sections) + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
