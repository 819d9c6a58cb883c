"""Benchmark suite of mangum_like against Mangum 0.22 and a no-adapter floor.

Run from the repository root::

    .venv/bin/python benchmarks/bench.py            # full run (1-2 minutes on 2 cores)
    .venv/bin/python benchmarks/bench.py --quick    # smoke run (under a minute)
    .venv/bin/python benchmarks/bench.py --output results.md

Per-invocation figures come from contenders measured side by side in this
process, interleaved round-robin: in each round every contender runs a batch
of N invocations (after ``gc.collect()``; gc stays enabled while timing) and
the per-call time of the batch is recorded.  Reported figures are medians over
rounds, in microseconds, with ratios to the ``floor`` contender: the same
application driven directly on one persistent event loop with a prebuilt
scope, which no adapter can beat.

Import time, cold start and memory are measured in fresh subprocesses (the
latter two through ``benchmarks/apps.py``).  Markdown tables go to stdout
(and ``--output``); progress messages go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import functools
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps import (
    ADAPTERS,
    APP_FACTORIES,
    AUTO,
    HTTP_V2_GET,
    LIKE,
    OFF,
    ASGIApp,
    FakeContext,
    LifespanDriver,
    Message,
    check_status,
    close_handler,
    floor_scope,
    load_event,
    load_events,
    make_binary_app,
    make_handler,
)

APPS_PY = Path(__file__).resolve().parent / "apps.py"
FLOOR = "floor"
IMPORT_MODULES = ("mangum_like", "mangum")

# Targets.
MAX_FLOOR_RATIO = 1.6
MIN_SPEEDUP_OFF = 2.0
MIN_SPEEDUP_AUTO = 5.0
MAX_BINARY_RATIO = 1.3
MAX_RSS_GROWTH = 1_000_000  # bytes ("1 MB")
# A 5 MiB body base64-encodes to 6,990,508 bytes: over Lambda's 6,291,556-byte limit for a
# buffered result, which mangum_like enforces by answering 502.  4 MiB (5,592,408 bytes once
# encoded) is the largest round size that Lambda accepts.
BINARY_SIZE = 4 * 1024 * 1024
BINARY_LABEL = f"{BINARY_SIZE // (1024 * 1024)} MiB"

Call = Callable[[], object]


@dataclass(frozen=True)
class Settings:
    """How much work each part of the suite does."""

    rounds: int
    number: int
    import_runs: int
    cold_runs: int
    binary_rounds: int
    memory_warmup: int
    memory_invocations: int
    quick: bool


FULL = Settings(
    rounds=61,
    number=500,
    import_runs=15,
    cold_runs=15,
    binary_rounds=41,
    memory_warmup=1_000,
    memory_invocations=100_000,
    quick=False,
)
QUICK = Settings(
    rounds=15,
    number=60,
    import_runs=5,
    cold_runs=5,
    binary_rounds=9,
    memory_warmup=1_000,
    memory_invocations=10_000,
    quick=True,
)


@dataclass
class Report:
    """Markdown sections, printed as they are produced, plus target verdicts."""

    sections: list[str] = field(default_factory=list)
    verdicts: list[tuple[str, str, bool]] = field(default_factory=list)

    def emit(self, title: str, body: str, note: str = "") -> None:
        text = f"## {title}\n\n" + (f"{note}\n\n" if note else "") + body + "\n"
        self.sections.append(text)
        print(text, flush=True)

    def verdict(self, target: str, measured: str, passed: bool) -> str:
        self.verdicts.append((target, measured, passed))
        return f"{measured} {mark(passed)}"

    def markdown(self) -> str:
        return "\n".join(self.sections)


# ----------------------------------------------------------------------- helpers


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the tables."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def mark(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Render a GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_us(value: float) -> str:
    return f"{value:,.2f}"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}x"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# ---------------------------------------------------------------------- timing


def time_batch(call: Call, number: int) -> float:
    """Nanoseconds per call of ``number`` back-to-back calls (gc stays enabled)."""
    gc.collect()
    calls = range(number)
    start = time.perf_counter_ns()
    for _ in calls:
        call()
    return (time.perf_counter_ns() - start) / number


def interleave(contenders: dict[str, Call], rounds: int, number: int) -> dict[str, list[float]]:
    """Round-robin batches; returns per-call microseconds of every batch.

    The starting contender rotates from round to round so that no contender
    always runs right after the same neighbour.
    """
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(time_batch(contenders[name], number) / 1_000)
    return samples


class Floor:
    """The app driven directly on one persistent loop with a prebuilt scope."""

    def __init__(self, app: ASGIApp, event: dict[str, Any]) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.lifespan = LifespanDriver(app, self.loop)
        self.state = self.lifespan.startup()
        self.scope, body = floor_scope(event)
        self.request: Message = {"type": "http.request", "body": body, "more_body": False}

    async def receive(self) -> Message:
        return self.request

    async def send(self, message: Message) -> None:
        return None

    def __call__(self) -> None:
        scope = {**self.scope, "state": self.state.copy()}
        self.loop.run_until_complete(self.app(scope, self.receive, self.send))

    def check(self) -> None:
        """One untimed call with a recording ``send``; fail unless status is 200."""
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {**self.scope, "state": self.state.copy()}
        self.loop.run_until_complete(self.app(scope, self.receive, send))
        status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
        if status != 200:
            raise SystemExit(f"floor: expected status 200, got {sent!r:.500}")

    def close(self) -> None:
        self.lifespan.shutdown()
        self.loop.close()


def adapter_call(variant: str, app: ASGIApp, event: dict[str, Any], label: str) -> Call:
    """Build a handler, run its warm-up invocation (startup) and check for a 200."""
    handler = make_handler(variant, app)
    call = functools.partial(handler, copy.deepcopy(event), FakeContext())
    check_status(f"{label}: {variant}", call())
    return call


def close_contenders(contenders: dict[str, Call]) -> None:
    """Release loops and lifespans once a group of contenders has been measured."""
    for call in contenders.values():
        if isinstance(call, Floor):
            call.close()
        elif isinstance(call, functools.partial):
            close_handler(call.func)


# ------------------------------------------------------------------- sections


def machine_section(report: Report, settings: Settings) -> None:
    """Where and how the figures were taken."""
    rows = [
        ("platform", platform.platform()),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("cpu", cpu_model()),
        ("logical cpus", os.cpu_count()),
        ("mangum_like", package_version("mangum-like")),
        ("mangum", package_version("mangum")),
        ("starlette", package_version("starlette")),
        ("mode", "quick" if settings.quick else "full"),
        ("rounds x invocations per batch", f"{settings.rounds} x {settings.number}"),
    ]
    report.emit("Machine", md_table(["item", "value"], rows))


def invocation_section(report: Report, settings: Settings) -> None:
    """Interleaved per-invocation timings of every contender, app and event."""
    events = load_events()
    rows: list[list[object]] = []
    target_rows: list[list[object]] = []
    for app_name, factory in APP_FACTORIES.items():
        for event_name, event in events.items():
            label = f"{app_name} / {event_name}"
            progress(f"per-invocation: {label}")
            app = factory()
            floor = Floor(app, event)
            floor.check()
            contenders: dict[str, Call] = {FLOOR: floor}
            for variant in ADAPTERS:
                contenders[variant] = adapter_call(variant, app, event, label)
            for call in contenders.values():  # warm caches, branch predictors, ...
                time_batch(call, max(5, settings.number // 10))
            samples = interleave(contenders, settings.rounds, settings.number)
            close_contenders(contenders)
            medians = {name: median(values) for name, values in samples.items()}
            for name, values in samples.items():
                ratio = medians[name] / medians[FLOOR]
                rows.append(
                    [
                        app_name,
                        event_name,
                        name,
                        fmt_us(medians[name]),
                        fmt_us(min(values)),
                        fmt_ratio(ratio),
                    ]
                )
            target_rows.append([app_name, event_name, *invocation_verdicts(report, label, medians)])
    report.emit(
        "Per-invocation time",
        md_table(["app", "event", "contender", "median µs", "min µs", "vs floor"], rows),
        note=f"Median over {settings.rounds} interleaved rounds of {settings.number} "
        "invocations each; `min` is the fastest round.",
    )
    headers = [
        "app",
        "event",
        f"mangum_like / floor (≤ {MAX_FLOOR_RATIO}x)",
        f"speed-up vs mangum off (≥ {MIN_SPEEDUP_OFF:g}x)",
        f"speed-up vs mangum auto (≥ {MIN_SPEEDUP_AUTO:g}x)",
    ]
    report.emit("Per-invocation targets", md_table(headers, target_rows))


def invocation_verdicts(report: Report, label: str, medians: dict[str, float]) -> list[str]:
    """The three per-invocation targets for one app/event pair."""
    like = medians[LIKE]
    overhead = like / medians[FLOOR]
    vs_off = medians[OFF] / like
    vs_auto = medians[AUTO] / like
    return [
        report.verdict(
            f"{label}: overhead ≤ {MAX_FLOOR_RATIO}x floor",
            fmt_ratio(overhead),
            overhead <= MAX_FLOOR_RATIO,
        ),
        report.verdict(
            f"{label}: ≥ {MIN_SPEEDUP_OFF:g}x faster than mangum off",
            fmt_ratio(vs_off),
            vs_off >= MIN_SPEEDUP_OFF,
        ),
        report.verdict(
            f"{label}: ≥ {MIN_SPEEDUP_AUTO:g}x faster than mangum auto",
            fmt_ratio(vs_auto),
            vs_auto >= MIN_SPEEDUP_AUTO,
        ),
    ]


def run_python(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run the current interpreter from a neutral directory; fail loudly on error."""
    proc = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"subprocess {args!r} failed:\n{proc.stderr[-2000:]}")
    return proc


def importtime_us(module: str) -> int:
    """Cumulative microseconds of the top-level ``module`` line of -X importtime."""
    stderr = run_python(["-X", "importtime", "-c", f"import {module}"]).stderr
    for line in stderr.splitlines():
        parts = line.split("|")
        # Nested imports are indented after the bar; the package itself is not.
        if line.startswith("import time:") and len(parts) == 3 and parts[2] == f" {module}":
            return int(parts[1])
    raise SystemExit(f"no -X importtime line for {module!r}:\n{stderr[-2000:]}")


def wall_ns(code: str) -> int:
    start = time.perf_counter_ns()
    run_python(["-c", code])
    return time.perf_counter_ns() - start


def import_section(report: Report, settings: Settings) -> None:
    """-X importtime and wall time of importing each package in fresh interpreters."""
    modules = IMPORT_MODULES
    progress("import time")
    # Both packages byte-compiled, as `pip install` leaves them (a plain import would not write
    # the caches where PYTHONDONTWRITEBYTECODE is set, and source compiling would be timed).
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"cannot find the package {module}")
        run_python(["-m", "compileall", "-q", *spec.submodule_search_locations])
    cumulative: dict[str, list[int]] = {m: [] for m in modules}
    wall: dict[str, list[int]] = {m: [] for m in [*modules, "(python -c pass)"]}
    for _ in range(settings.import_runs):
        for module in modules:
            cumulative[module].append(importtime_us(module))
        for name in wall:
            wall[name].append(wall_ns("pass" if name.startswith("(") else f"import {name}"))
    base = median(wall["(python -c pass)"]) / 1e6
    rows = [
        [
            m,
            f"{median(cumulative[m]):,.0f}",
            f"{median(wall[m]) / 1e6:.1f}",
            f"{median(wall[m]) / 1e6 - base:.1f}",
        ]
        for m in modules
    ]
    rows.append(["(python -c pass)", "", f"{base:.1f}", "0.0"])
    report.emit(
        "Import time",
        md_table(["module", "-X importtime cumulative µs", "wall ms", "wall minus bare ms"], rows),
        note=f"Medians of {settings.import_runs} interleaved subprocess runs each.",
    )
    like, ref = median(cumulative["mangum_like"]), median(cumulative["mangum"])
    report.verdict(
        "import time (-X importtime) ≤ mangum's",
        f"{like:,.0f} µs vs {ref:,.0f} µs",
        like <= ref,
    )
    like_wall, ref_wall = median(wall["mangum_like"]), median(wall["mangum"])
    report.verdict(
        "import wall time (python -c) ≤ mangum's",
        f"{like_wall / 1e6:.1f} ms vs {ref_wall / 1e6:.1f} ms",
        like_wall <= ref_wall,
    )


def cold_start_section(report: Report, settings: Settings) -> None:
    """Adapter construction + first invocation vs app startup, in fresh interpreters."""
    rows: list[list[object]] = []
    variants = ["app startup", *ADAPTERS]
    for app_name in APP_FACTORIES:
        progress(f"cold start: {app_name}")
        samples: dict[str, list[int]] = {v: [] for v in variants}
        for _ in range(settings.cold_runs):
            for variant in variants:
                out = run_python([str(APPS_PY), "coldstart", variant, app_name]).stdout
                samples[variant].append(json.loads(out)["ns"])
        base = median(samples["app startup"])
        for variant in variants:
            value = median(samples[variant])
            rows.append([app_name, variant, fmt_us(value / 1e3), fmt_us((value - base) / 1e3)])
    report.emit(
        "Cold start",
        md_table(["app", "what", "median µs", "difference to app startup µs"], rows),
        note="Fresh interpreter per run, libraries and app already imported; adapter rows time "
        "`Mangum(app)` + the first HTTP API 2.0 invocation (including lifespan startup), "
        "`app startup` runs the app's lifespan startup alone on a new asyncio loop. "
        "Mangum `off` never runs the lifespan, so it may come out below `app startup`. "
        f"Medians of {settings.cold_runs} interleaved runs.",
    )


def binary_section(report: Report, settings: Settings) -> None:
    """Mapping a large binary body vs a bare base64.b64encode of the same bytes."""
    progress(f"{BINARY_LABEL} binary response")
    app, payload = make_binary_app(BINARY_SIZE)
    event = load_event(HTTP_V2_GET)
    contenders: dict[str, Call] = {"base64.b64encode": functools.partial(base64.b64encode, payload)}
    for variant in (LIKE, OFF):
        call = adapter_call(variant, app, event, f"{BINARY_LABEL} binary")
        result: Any = call()
        if not result.get("isBase64Encoded") or base64.b64decode(result["body"]) != payload:
            raise SystemExit(f"{BINARY_LABEL} binary: {variant} did not return the payload")
        contenders[variant] = call
    samples = interleave(contenders, settings.binary_rounds, 1)
    close_contenders(contenders)
    base = median(samples["base64.b64encode"])
    rows = [
        [name, fmt_us(median(v) / 1e3), fmt_ratio(median(v) / base)] for name, v in samples.items()
    ]
    report.emit(
        f"{BINARY_LABEL} binary response",
        md_table(["contender", "median ms", "vs b64encode"], rows),
        note=f"HTTP API 2.0 GET answered with {BINARY_LABEL} of random application/octet-stream; "
        f"median of {settings.binary_rounds} interleaved single invocations. (5 MiB would "
        "base64-encode past Lambda's 6,291,556-byte result limit, which mangum_like answers "
        "with 502.)",
    )
    ratio = median(samples[LIKE]) / base
    report.verdict(
        f"{BINARY_LABEL} binary ≤ {MAX_BINARY_RATIO}x b64encode",
        fmt_ratio(ratio),
        ratio <= MAX_BINARY_RATIO,
    )


def memory_section(report: Report, settings: Settings) -> None:
    """RSS growth of mangum_like over many invocations, in a fresh interpreter."""
    variant = LIKE
    progress(f"memory: {settings.memory_invocations:,} invocations of {variant}")
    args = [
        str(APPS_PY),
        "memory",
        variant,
        str(settings.memory_warmup),
        str(settings.memory_invocations),
    ]
    out = json.loads(run_python(args).stdout)
    growth = out["after"] - out["before"]
    rows = [
        [
            variant,
            f"{settings.memory_warmup:,}",
            f"{settings.memory_invocations:,}",
            f"{out['before'] / 1024:,.0f}",
            f"{out['after'] / 1024:,.0f}",
            f"{growth:,} ({growth / 1024:,.1f} KiB)",
        ]
    ]
    note = "Current RSS from /proc/self/statm, raw app, HTTP API 2.0 GET, fresh interpreter."
    if settings.quick:
        note += (
            f" Quick mode: {settings.memory_invocations:,} invocations instead of the "
            f"{FULL.memory_invocations:,} the target is defined for."
        )
    report.emit(
        "Memory",
        md_table(
            [
                "adapter",
                "warm-up",
                "invocations",
                "RSS before KiB",
                "RSS after KiB",
                "growth bytes",
            ],
            rows,
        ),
        note=note,
    )
    report.verdict(
        f"RSS growth over {settings.memory_invocations:,} invocations < 1 MB",
        f"{growth / 1024:,.1f} KiB",
        growth < MAX_RSS_GROWTH,
    )


def summary_section(report: Report) -> None:
    """Every target with its measurement and verdict."""
    rows = [[target, measured, mark(passed)] for target, measured, passed in report.verdicts]
    passed = sum(1 for *_, ok in report.verdicts if ok)
    report.emit(
        "Targets",
        md_table(["target", "measured", "result"], rows),
        note=f"{passed} of {len(report.verdicts)} targets met.",
    )


# ------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark mangum_like against Mangum 0.22 and a no-adapter floor."
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run (< 1 minute)")
    parser.add_argument("--output", type=Path, help="also write the markdown tables here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    started = time.perf_counter()
    report = Report()
    machine_section(report, settings)
    invocation_section(report, settings)
    binary_section(report, settings)
    import_section(report, settings)
    cold_start_section(report, settings)
    memory_section(report, settings)
    summary_section(report)
    progress(f"done in {time.perf_counter() - started:.0f} s")
    if args.output:
        args.output.write_text(report.markdown(), encoding="utf-8")
        progress(f"tables written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
