"""Lambda Managed Instances: 16 invocations in flight in one execution environment, our runtime
loop (``python -m mangum_like.runtime``, ``MANGUM_LIKE_CONCURRENCY=loop``) against the official
runtime interface client (``python -m awslambdaric``, which forks one worker process per
invocation slot), each against its own Runtime API emulator (``tests/lambda_emulator.py``) with
``max_concurrency=16``.

Run from the repository root::

    .venv/bin/python benchmarks/lmi_bench.py --output lmi.md     # about 80 seconds on 2 cores
    .venv/bin/python benchmarks/lmi_bench.py --quick             # smoke run

The handler is ``benchmarks/lmi_app.py``: FastAPI, a lifespan, one route that awaits 50 ms of
I/O; the event a Function URL GET. Every round starts a fresh environment for one runtime, the
runtimes alternating (ours, official, ours, official, ...):

- ready: from ``Popen`` until the 16th concurrent ``invocation/next``, which the runtime's
  pollers or workers make once the handler is imported;
- warm-up: 3 batches of 16 invocations, not measured; the first one reaches every poller or
  worker, so every official worker has imported the app and served it once;
- load: ``--invocations`` queued at once, which the emulator hands out at most 16 at a time, so
  that 16 stay in flight until the queue is empty. Throughput is the invocations over the time
  from the first hand-over to the last answer; latency is each invocation's time from the
  runtime receiving the event to its answer (the emulator's ``sent_at`` to ``answered_at``);
- memory after the load: the runtime process and all its descendants, the sum of their RSS
  (``VmRSS`` of ``/proc/<pid>/status``) and of their PSS (``/proc/<pid>/smaps_rollup``, which
  divides a page shared by forked processes among them, so shared pages count once in all).

The runtime processes keep their bytecode in a temporary cache (``PYTHONPYCACHEPREFIX``) filled
by one discarded round per runtime, so that no process compiles modules whose ``.pyc`` files are
missing from a working tree. Markdown tables go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime_bench import ENV, OFFICIAL, OURS, ROOT, check, table, url_event

from tests.lambda_emulator import Invocation, RuntimeAPIEmulator

CONCURRENCY = 16
HANDLER = "lmi_app.handler"
IO_SECONDS = 0.05  # what the route awaits; lmi_app.IO_SECONDS
WARMUP_BATCHES = 3
OURS_NAME = "mangum_like.runtime (loop)"
OFFICIAL_NAME = "awslambdaric"
RUNTIMES = {
    OURS_NAME: (OURS, {"MANGUM_LIKE_CONCURRENCY": "loop"}),
    OFFICIAL_NAME: (OFFICIAL, {}),
}
# "The same throughput": ours at least this share of the official client's.
SAME_THROUGHPUT = 0.95
MEMORY_SHARE = 0.25
MIB = 1024 * 1024


@dataclass
class Round:
    """One fresh environment of one runtime: its warm-up and its load."""

    runtime: str
    ready_s: float
    invocations: int
    throughput: float  # invocations per second
    p50_ms: float
    p99_ms: float
    rss_mib: float
    pss_mib: float
    processes: int  # the runtime process and its descendants, after the load
    cpu_ms: float  # their CPU time during the load, per invocation
    emulator_cpu_ms: float  # this process's (the emulator's, mostly), per invocation
    serving: int  # distinct processes that answered the first warm-up batch
    app_peak: int  # the most requests in flight in one process, as the app saw it
    emulator_peak: int  # the most invocations handed out at once


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, from the parent ids in ``/proc/<pid>/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                data = stat.read()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold anything, so split after its ")".
        fields = data.rpartition(b")")[2].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU time of ``pids`` so far (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def kib_field(path: str, name: str) -> int:
    """The value of ``name:`` (in kB) in a ``/proc`` status-like file; 0 if it is gone."""
    try:
        with open(path, encoding="ascii") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root: int) -> tuple[float, float, int]:
    """RSS and PSS in MiB summed over ``root`` and its descendants, and how many they are."""
    pids = descendants(root)
    rss = sum(kib_field(f"/proc/{pid}/status", "VmRSS") for pid in pids)
    pss = sum(kib_field(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids)
    return rss * 1024 / MIB, pss * 1024 / MIB, len(pids)


def answer_of(invocation: Invocation) -> dict[str, Any]:
    """The app's JSON answer inside the Lambda result."""
    check(invocation)
    result = invocation.json()
    if result.get("statusCode") != 200:
        raise RuntimeError(f"the app answered {result!r}")
    body: dict[str, Any] = json.loads(result["body"])
    return body


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile of ``values`` (0 < share < 1), interpolated between ranks."""
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def one_round(name: str, invocations: int, cache: str) -> Round:
    argv, env = RUNTIMES[name]
    bytecode = {"PYTHONPYCACHEPREFIX": cache, "PYTHONDONTWRITEBYTECODE": ""}
    event = url_event("/items/42")
    with RuntimeAPIEmulator(max_concurrency=CONCURRENCY) as emulator:
        began = time.monotonic()
        process = emulator.start([*argv, HANDLER], {**ENV, **env, **bytecode}, cwd=str(ROOT))
        deadline = began + 120
        while len(emulator.next_requests) < CONCURRENCY:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name}: {len(emulator.next_requests)} of {CONCURRENCY} pollers ready; "
                    f"output:\n{emulator.output}"
                )
            time.sleep(0.002)
        ready = emulator.next_requests[CONCURRENCY - 1] - began

        serving = 0
        for batch in range(WARMUP_BATCHES):
            answers = [
                answer_of(invocation)
                for invocation in emulator.invoke_all([event] * CONCURRENCY, wait=60)
            ]
            if batch == 0:
                serving = len({answer["pid"] for answer in answers})

        pids = descendants(process.pid)
        cpu_before, emulator_before = cpu_seconds(pids), time.process_time()
        done = emulator.invoke_all([event] * invocations, wait=invocations * IO_SECONDS + 120)
        cpu = cpu_seconds(pids) - cpu_before
        emulator_cpu = time.process_time() - emulator_before
        answers = [answer_of(invocation) for invocation in done]
        sent = [invocation.sent_at for invocation in done]
        answered = [invocation.answered_at for invocation in done]
        if None in sent or None in answered:
            raise RuntimeError(f"{name}: an invocation without its times")
        durations = [invocation.duration * 1000 for invocation in done]
        span = max(a for a in answered if a is not None) - min(s for s in sent if s is not None)
        rss, pss, processes = tree_memory(process.pid)
        return Round(
            runtime=name,
            ready_s=ready,
            invocations=invocations,
            throughput=invocations / span,
            p50_ms=statistics.median(durations),
            p99_ms=percentile(durations, 0.99),
            rss_mib=rss,
            pss_mib=pss,
            processes=processes,
            cpu_ms=cpu * 1000 / invocations,
            emulator_cpu_ms=emulator_cpu * 1000 / invocations,
            serving=serving,
            app_peak=max(answer["peak"] for answer in answers),
            emulator_peak=emulator.peak_in_flight,
        )


def summary(rounds: Sequence[Round]) -> dict[str, dict[str, float]]:
    """Per runtime, the median over its rounds of each measure."""
    out: dict[str, dict[str, float]] = {}
    for name in RUNTIMES:
        mine = [r for r in rounds if r.runtime == name]
        out[name] = {
            field: statistics.median(float(getattr(r, field)) for r in mine)
            for field in (
                "ready_s",
                "throughput",
                "p50_ms",
                "p99_ms",
                "cpu_ms",
                "rss_mib",
                "pss_mib",
            )
        }
    return out


def report(rounds: Sequence[Round], settings: str) -> str:
    sections = [settings]
    sections.append(
        "### Every round\n\n"
        + table(
            [
                "round",
                "runtime",
                "ready s",
                "invocations/s",
                "p50 ms",
                "p99 ms",
                "CPU ms/inv",
                "emulator CPU ms/inv",
                "RSS MiB",
                "PSS MiB",
                "processes",
                "processes serving",
                "peak in one process",
                "peak handed out",
            ],
            [
                [
                    str(index // len(RUNTIMES) + 1),
                    r.runtime,
                    f"{r.ready_s:.2f}",
                    f"{r.throughput:.1f}",
                    f"{r.p50_ms:.1f}",
                    f"{r.p99_ms:.1f}",
                    f"{r.cpu_ms:.2f}",
                    f"{r.emulator_cpu_ms:.2f}",
                    f"{r.rss_mib:.1f}",
                    f"{r.pss_mib:.1f}",
                    str(r.processes),
                    str(r.serving),
                    str(r.app_peak),
                    str(r.emulator_peak),
                ]
                for index, r in enumerate(rounds)
            ],
        )
    )
    medians = summary(rounds)
    sections.append(
        "### Median over the rounds\n\n"
        + table(
            [
                "runtime",
                "ready s",
                "invocations/s",
                "p50 ms",
                "p99 ms",
                "CPU ms/inv",
                "RSS MiB",
                "PSS MiB",
            ],
            [
                [
                    name,
                    f"{m['ready_s']:.2f}",
                    f"{m['throughput']:.1f}",
                    f"{m['p50_ms']:.1f}",
                    f"{m['p99_ms']:.1f}",
                    f"{m['cpu_ms']:.2f}",
                    f"{m['rss_mib']:.1f}",
                    f"{m['pss_mib']:.1f}",
                ]
                for name, m in medians.items()
            ],
        )
    )
    ours, official = medians[OURS_NAME], medians[OFFICIAL_NAME]
    throughput = ours["throughput"] / official["throughput"]
    rss = ours["rss_mib"] / official["rss_mib"]
    pss = ours["pss_mib"] / official["pss_mib"]
    sections.append(
        "### Targets: the same throughput with at most a quarter of the memory\n\n"
        + table(
            ["target", "ours / official", "result"],
            [
                [
                    f"throughput ≥ {SAME_THROUGHPUT:.2f}x",
                    f"{throughput:.2f}x",
                    "PASS" if throughput >= SAME_THROUGHPUT else "MISS",
                ],
                [
                    f"RSS ≤ {MEMORY_SHARE:.2f}x",
                    f"{rss:.2f}x",
                    "PASS" if rss <= MEMORY_SHARE else "MISS",
                ],
                [
                    f"PSS ≤ {MEMORY_SHARE:.2f}x",
                    f"{pss:.2f}x",
                    "PASS" if pss <= MEMORY_SHARE else "MISS",
                ],
            ],
        )
    )
    return "\n\n".join(sections) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--rounds", type=int, help="rounds per runtime (default 5, quick 1)")
    parser.add_argument(
        "--invocations", type=int, help="invocations per load (default 960, quick 160)"
    )
    parser.add_argument("--output", help="also write the markdown tables here")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 5)
    invocations = args.invocations or (160 if args.quick else 960)
    settings = (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}; handler {HANDLER} (FastAPI, awaits {IO_SECONDS * 1000:.0f} ms), "
        f"{CONCURRENCY} invocations in flight; {rounds} rounds per runtime, alternating, each a "
        f"fresh environment: {WARMUP_BATCHES} x {CONCURRENCY} warm-up invocations, then "
        f"{invocations} measured (at most {CONCURRENCY / IO_SECONDS:.0f} invocations/s)."
    )

    results: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="lmi-bench-pycache-") as cache:
        for name in RUNTIMES:  # fills the bytecode cache; not measured
            print(f"[lmi-bench] bytecode round: {name}", file=sys.stderr, flush=True)
            one_round(name, CONCURRENCY, cache)
        for index in range(rounds):
            for name in RUNTIMES:
                result = one_round(name, invocations, cache)
                results.append(result)
                print(
                    f"[lmi-bench] round {index + 1} of {rounds}, {name}: "
                    f"{result.throughput:.1f}/s, p50 {result.p50_ms:.1f} ms, "
                    f"p99 {result.p99_ms:.1f} ms, RSS {result.rss_mib:.1f} MiB, "
                    f"PSS {result.pss_mib:.1f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
    text = report(results, settings)
    print(text)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
