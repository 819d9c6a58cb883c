"""A process that used a handler in-process exits at interpreter exit, its lifespan shut down,
whatever threads the app's lifespan started (a user's pytest run, a script)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The app's lifespan holds a task group whose task keeps an anyio worker thread busy, as the MCP
# SDK's session manager does for synchronous tools; anyio's worker threads are not daemons.
SCRIPT = """
import logging, sys, time
from contextlib import asynccontextmanager
from unittest.mock import MagicMock

import anyio
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mangum_like import Mangum
from tests.example_events import http_api

logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(message)s")


@asynccontextmanager
async def lifespan(app):
    async def keep_a_thread_busy():
        while True:
            await anyio.to_thread.run_sync(time.sleep, 0.01)

    async with anyio.create_task_group() as group:
        group.start_soon(keep_a_thread_busy)
        yield
        group.cancel_scope.cancel()
    print("the app's shutdown ran", flush=True)


def hello(request):  # a sync endpoint: served from a worker thread too
    return PlainTextResponse("hello")


app = Starlette(routes=[Route("/", hello)], lifespan=lifespan)
handler = Mangum(app, backend=BACKEND)
print("status", handler(http_api("GET", "/"), MagicMock())["statusCode"], flush=True)
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_exits_within_a_second_with_its_shutdown_run(backend: str) -> None:
    script = textwrap.dedent(SCRIPT).replace("BACKEND", repr(backend))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert "status 200" in done.stdout
    assert "the app's shutdown ran" in done.stdout
    assert "Lifespan shutdown complete" in done.stdout
    # The interpreter's own start and the imports take most of it; the exit itself is prompt.
    assert took < 5.0
    lines = done.stdout.splitlines()
    assert lines.index("the app's shutdown ran") > lines.index("status 200")


def test_exit_takes_under_a_second_after_the_last_line() -> None:
    script = textwrap.dedent(SCRIPT).replace("BACKEND", repr("asyncio"))
    script += "\nimport time as _t; print('end', _t.monotonic(), flush=True)\n"
    end = None
    with subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("end "):
                end = float(line.split()[1])
        assert process.wait(timeout=30) == 0
    assert end is not None
    assert time.monotonic() - end < 1.0
