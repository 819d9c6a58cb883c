"""Time to first byte of the first request after a runtime starts: a cold start's SSE response.

``benchmarks/runtime_bench.py`` times SSE responses in a runtime process that has already served
some, so its figures are for warm requests. This script starts a fresh runtime process for every
run, against the same Runtime API emulator (``tests/lambda_emulator.py``) and by default with the
same handler and event (``runtime_apps.handler``, ``GET /sse``: 5 events 50 ms apart). The event
is queued before the process starts, so the runtime's first ``/next`` gets it at once, as the
invocation that caused a cold start on Lambda waits for the Init phase.

Run from the repository root::

    .venv/bin/python benchmarks/first_byte.py               # 15 runs per case, about 20 s
    .venv/bin/python benchmarks/first_byte.py --runs 3      # smoke run
    .venv/bin/python benchmarks/first_byte.py --handler examples.sse_streaming.app.handler \\
        --path /tokens                                       # the FastAPI SSE example

Per run, three cases, in an order reversed every other run: ``mangum_like.runtime`` in
``response_stream`` mode, ``mangum_like.runtime`` buffered, ``awslambdaric`` (buffered: it cannot
stream Python responses). Each is timed where the bytes reach the emulator:

- from the event's hand-over (the runtime's first ``/next`` answered), as runtime_bench's warm
  figures are: to the prelude (status and headers), to the first event, to the last byte;
- from process start (``Popen``): the Init phase (interpreter, imports, the handler module) and
  then the first request, what a client of a cold start waits for beyond Lambda's own start of
  the execution environment, which no local run includes;
- the second request of the same process, from its hand-over, for comparison with the warm
  figures under the same conditions.

The runtime processes keep their bytecode in a temporary cache (``PYTHONPYCACHEPREFIX``, written
even where ``PYTHONDONTWRITEBYTECODE`` is set) filled by one discarded run per case, so that every
measured start reads compiled modules, as a deployed package does (pip compiles on install),
instead of compiling the modules whose ``.pyc`` files are missing or stale in a working tree.

A buffered answer's first byte is its last. Medians over the runs are printed as markdown on
stdout; progress goes to stderr, where the emulator may also report the connection reset of a
runtime process it killed at the end of a run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence

from runtime_bench import ENV, OFFICIAL, OURS, ROOT, check, url_event

from tests.lambda_emulator import Invocation, RuntimeAPIEmulator

CASES = {
    "mangum_like.runtime, response_stream": (OURS, {"MANGUM_LIKE_INVOKE_MODE": "response_stream"}),
    "mangum_like.runtime, buffered": (OURS, {}),
    "awslambdaric, buffered": (OFFICIAL, {}),
}
MEASURES = (
    "init: process start to the first /next",
    "first request: prelude, from hand-over",
    "first request: first event, from hand-over",
    "first request: last byte, from hand-over",
    "first request: first event, from process start",
    "second request: first event, from hand-over",
)
# The streaming prelude (a JSON object with the status and headers) ends with 8 NUL bytes.
PRELUDE_END = b"\x00" * 8


def first_event_at(invocation: Invocation) -> float:
    """When the first byte after the streaming prelude reached the emulator (monotonic)."""
    received = b""
    for at, chunk in invocation.chunks:
        received += chunk
        end = received.find(PRELUDE_END)
        if end != -1 and len(received) > end + len(PRELUDE_END):
            return at
    raise RuntimeError(f"no body after the prelude in {received[:300]!r}")


def one_run(
    argv: Sequence[str], env: dict[str, str], handler: str, path: str, cache: str
) -> dict[str, float]:
    """Milliseconds for one fresh process: its first request, then its second."""
    streamed = "MANGUM_LIKE_INVOKE_MODE" in env
    bytecode = {"PYTHONPYCACHEPREFIX": cache, "PYTHONDONTWRITEBYTECODE": ""}
    with RuntimeAPIEmulator() as emulator:
        first = emulator.submit(url_event(path))
        began = time.monotonic()
        emulator.start([*argv, handler], {**ENV, **env, **bytecode}, cwd=str(ROOT))
        emulator.wait(first, 60)
        check(first)
        second = emulator.invoke(url_event(path))
        check(second)
    assert first.sent_at is not None and first.answered_at is not None
    assert second.sent_at is not None and second.answered_at is not None
    if streamed:
        first_byte, second_byte = first_event_at(first), first_event_at(second)
    else:
        first_byte, second_byte = first.answered_at, second.answered_at
    prelude = first.chunks[0][0] - first.sent_at if streamed else None
    out: dict[str, float | None] = {
        MEASURES[0]: first.sent_at - began,
        MEASURES[1]: prelude,
        MEASURES[2]: first_byte - first.sent_at,
        MEASURES[3]: first.answered_at - first.sent_at,
        MEASURES[4]: first_byte - began,
        MEASURES[5]: second_byte - second.sent_at,
    }
    return {name: seconds * 1000 for name, seconds in out.items() if seconds is not None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per case")
    parser.add_argument("--handler", default="runtime_apps.handler", help="module.attribute")
    parser.add_argument("--path", default="/sse", help="the Function URL GET's path")
    args = parser.parse_args(argv)

    results: dict[str, dict[str, list[float]]] = {case: {} for case in CASES}
    with tempfile.TemporaryDirectory(prefix="first-byte-pycache-") as cache:
        for runtime, env in CASES.values():  # fills the bytecode cache; not measured
            one_run(runtime, env, args.handler, args.path, cache)
        for index in range(args.runs):
            order = list(CASES.items())
            if index % 2:
                order.reverse()
            for case, (runtime, env) in order:
                for name, ms in one_run(runtime, env, args.handler, args.path, cache).items():
                    results[case].setdefault(name, []).append(ms)
            print(f"[first-byte] run {index + 1} of {args.runs}", file=sys.stderr, flush=True)

    lines = [
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}; handler {args.handler}, GET {args.path}; median of "
        f"{args.runs} fresh processes per case, ms (min to max in brackets)",
        "",
        "| measure | " + " | ".join(CASES) + " |",
        "|---|" + "---|" * len(CASES),
    ]
    for name in MEASURES:
        cells = []
        for case in CASES:
            values = results[case].get(name)
            cells.append(
                f"{statistics.median(values):.1f} ({min(values):.1f} to {max(values):.1f})"
                if values
                else "n/a"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
