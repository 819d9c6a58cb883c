"""``mangum-like serve`` as a subprocess of a test: started, its URL read, stopped, bounded."""

from __future__ import annotations

import contextlib
import selectors
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _read_line(stream: Any, seconds: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(seconds):
            raise AssertionError(f"no output within {seconds} s")
    line: str = stream.readline()
    return line


@dataclass
class ServeProcess:
    """The running server: ``line`` is its first line of output, which names the URL
    ("... on http://HOST:PORT[/STAGE] (Ctrl-C to stop)"); ``status`` and ``stderr`` are set once
    it has stopped at the end of the ``with`` block."""

    process: subprocess.Popen[str]
    line: str
    host: str
    port: int
    status: int | None = None
    stderr: str = ""


@contextlib.contextmanager
def serve_process(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path = ROOT,
    start_seconds: float = 20,
    stop_signal: int = signal.SIGTERM,
    stop_seconds: float = 20,
) -> Iterator[ServeProcess]:
    """Run ``args`` (a ``serve`` command line) until the ``with`` block ends, then send it
    ``stop_signal`` and wait for it up to ``stop_seconds``. If the block raises, or the process
    outlives its wait, it is killed; its pipes are always closed."""
    process = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _read_line(process.stdout, start_seconds)
        if " on http://" not in line:
            raise AssertionError(f"no URL in the first line of output: {line!r}")
        url = line.split(" on http://")[1].split(" ")[0].partition("/")[0]
        host, _, port = url.rpartition(":")
        served = ServeProcess(process, line, host, int(port))
        yield served
        process.send_signal(stop_signal)
        served.status = process.wait(timeout=stop_seconds)
        served.stderr = process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
