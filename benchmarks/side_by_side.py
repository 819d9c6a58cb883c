"""Per-invocation cost of revisions of mangum_like side by side, in one process.

    .venv/bin/python benchmarks/side_by_side.py REV [REV ...]     e.g. main~3 HEAD

Each revision's package is copied out of git under a name of its own (``mangum_like_<n>``) and
imported beside the others; batches of invocations then alternate between them, so that every
revision meets the same process: the same hash seed, memory layout and CPU state. Differences of
a fraction of a microsecond, which separate processes hide in their noise, show here. The word
``worktree`` names the working tree as it is. Prints the median µs per invocation of each
revision for the three events of ``bench.py``, raw app, lifespan ``auto``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from apps import APP_FACTORIES, FakeContext, load_events

ROOT = Path(__file__).resolve().parent.parent


def export(revision: str, into: Path, name: str) -> None:
    """The package of ``revision`` as the package ``name`` under ``into``."""
    target = into / name
    if revision == "worktree":
        shutil.copytree(ROOT / "mangum_like", target, ignore=shutil.ignore_patterns("__pycache__"))
        return
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "mangum_like"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "mangum_like").rename(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("revisions", nargs="+", metavar="REV")
    parser.add_argument("--rounds", type=int, default=40, help="batches per revision")
    parser.add_argument("--batch", type=int, default=5000, help="invocations per batch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        packages = Path(scratch)
        names = {revision: f"mangum_like_{index}" for index, revision in enumerate(args.revisions)}
        for revision, name in names.items():
            export(revision, packages, name)
        sys.path.insert(0, str(packages))
        app = APP_FACTORIES["raw"]()
        handlers: dict[str, Any] = {
            revision: importlib.import_module(name).Mangum(app, lifespan="auto")
            for revision, name in names.items()
        }
        context = FakeContext()
        print(f"median µs per invocation, {args.rounds} alternating batches of {args.batch}")
        for event_name, event in load_events().items():
            for handler in handlers.values():
                for _ in range(2000):  # warm up
                    handler(event, context)
            times: dict[str, list[float]] = {revision: [] for revision in handlers}
            for _ in range(args.rounds):
                for revision, handler in handlers.items():
                    gc.collect()
                    start = time.perf_counter()
                    for _ in range(args.batch):
                        handler(event, context)
                    times[revision].append((time.perf_counter() - start) / args.batch * 1e6)
            medians = "  ".join(
                f"{revision}={statistics.median(values):.2f}" for revision, values in times.items()
            )
            print(f"{event_name:<18} {medians}")
        for handler in handlers.values():
            handler.shutdown()


if __name__ == "__main__":
    main()
