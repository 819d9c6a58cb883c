"""Answer first, finish after, end to end: each runtime in a subprocess.

Under our runtime loop (``python -m mangum_like.runtime``) a Mangum handler's response reaches
the Runtime API the moment the app sends its last body message, buffered or streamed; the app's
work after it (a Starlette ``BackgroundTask`` here) runs on, and the runtime asks for its next
invocation only once the app has returned, as Lambda keeps the environment running until then.
The deadline guard cuts such work short before the Lambda deadline and logs a WARNING. Under the
official client (awslambdaric) the handler must return its result, so the work delays the
response; ``mangum-like serve`` writes the response to its client at once and serves the next
request once the app has returned.

The times compared are the emulator's own (``Invocation.sent_at`` / ``answered_at`` / ``chunks``
and ``next_requests``), which leave out the processes' start-up.
"""

from __future__ import annotations

import http.client
import os
import sys
import threading
import time
from typing import IO

import pytest

from tests.helpers import event_names, load_event
from tests.lambda_apps.background import SHORT_WORK
from tests.lambda_emulator import Invocation, RuntimeAPIEmulator
from tests.serve_process import serve_process
from tests.test_lambda_runtime import OURS, RIC, STREAMING, answer, runtime, url_event

APP = "tests.lambda_apps.background"
CLI = (sys.executable, "-m", "mangum_like")
EARLY = 0.05  # seconds: the response reaches the Runtime API within this of the event
AFTER_WORK = SHORT_WORK - 0.05  # /bg's work sleeps SHORT_WORK seconds after the response
TIMEOUT_MS = 1500  # the function's timeout in the guard's tests: the guard cuts at 1.0 s
GUARD_LINE = "GET /bg-long: the deadline guard cut short what the app still did"


def next_request_after(
    emulator: RuntimeAPIEmulator, invocation: Invocation, seconds: float = 10.0
) -> float:
    """When the runtime asked for its next invocation after it received ``invocation``."""
    assert invocation.sent_at is not None
    return emulator.next_request_after(invocation.sent_at, seconds)


def warm(emulator: RuntimeAPIEmulator) -> None:
    """One invocation first: the lifespan starts with it (and on trio, the loop is imported and
    started), which is no part of the times measured."""
    assert answer(emulator.invoke(url_event("/ping"))) == (200, b"pong")


def since_sent(invocation: Invocation, at: float) -> float:
    assert invocation.sent_at is not None
    return at - invocation.sent_at


# -- our runtime loop ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["handler", "trio_handler"], ids=["asyncio", "trio"])
def test_buffered_response_goes_out_before_the_background_work(name: str) -> None:
    with runtime([*OURS, f"{APP}.{name}"]) as emulator:
        warm(emulator)
        invocation = emulator.invoke(url_event("/bg"))
        assert answer(invocation) == (200, b"answered")
        assert invocation.duration < EARLY, emulator.output
        asked = next_request_after(emulator, invocation)
        # The runtime asked for the next invocation only once the work had run to its end ...
        assert since_sent(invocation, asked) >= AFTER_WORK
        # ... and the work's line was written before it asked.
        assert "BACKGROUND DONE /bg" in emulator.output
        assert answer(emulator.invoke(url_event("/ping"))) == (200, b"pong")


@pytest.mark.parametrize("name", ["handler", "trio_handler"], ids=["asyncio", "trio"])
def test_streamed_response_ends_before_the_background_work(name: str) -> None:
    with runtime([*OURS, f"{APP}.{name}"], STREAMING) as emulator:
        warm(emulator)
        invocation = emulator.invoke(url_event("/bg"))
        assert invocation.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
        assert answer(invocation) == (200, b"answered")
        assert invocation.trailers == {}
        # The prelude and the body chunk, and the stream's final chunk (answered_at), all
        # within EARLY of the event.
        assert since_sent(invocation, invocation.chunks[-1][0]) < EARLY, emulator.output
        assert invocation.duration < EARLY, emulator.output
        asked = next_request_after(emulator, invocation)
        assert since_sent(invocation, asked) >= AFTER_WORK
        assert "BACKGROUND DONE /bg" in emulator.output
        assert answer(emulator.invoke(url_event("/ping"))) == (200, b"pong")


def alb_event(path: str) -> object:
    """An ALB event (a source that cannot stream) for ``GET path``."""
    event = load_event(event_names("alb-single")[0])
    event.update(path=path, httpMethod="GET", body="", isBase64Encoded=False)
    event["queryStringParameters"] = {}
    return event


def test_source_that_cannot_stream_is_answered_early_in_streaming_mode() -> None:
    """In response_stream mode an ALB event gets the buffered result, posted as early as in
    buffered mode."""
    with runtime([*OURS, f"{APP}.handler"], STREAMING) as emulator:
        warm(emulator)
        invocation = emulator.invoke(alb_event("/bg"))
        assert "Lambda-Runtime-Function-Response-Mode" not in invocation.headers
        result = invocation.json()
        assert (result["statusCode"], result["body"]) == (200, "answered")
        assert invocation.duration < EARLY, emulator.output
        asked = next_request_after(emulator, invocation)
        assert since_sent(invocation, asked) >= AFTER_WORK
        assert "BACKGROUND DONE /bg" in emulator.output


@pytest.mark.parametrize(
    ("name", "env"),
    [("handler", {}), ("trio_handler", {}), ("handler", STREAMING)],
    ids=["asyncio", "trio", "asyncio-streamed"],
)
def test_guard_cuts_the_background_work_before_the_deadline(name: str, env: dict[str, str]) -> None:
    with runtime([*OURS, f"{APP}.{name}"], env) as emulator:
        warm(emulator)
        invocation = emulator.invoke(url_event("/bg-long"), timeout_ms=TIMEOUT_MS)
        assert answer(invocation) == (200, b"answered")
        # Well before the guard's cut at 1.0 s (the deadline less timeout_margin's 0.5 s).
        assert invocation.duration < 0.5, emulator.output
        asked = next_request_after(emulator, invocation)
        # The work ran until the guard cut it, and the runtime asked for the next invocation
        # before Lambda's deadline.
        assert 0.8 <= since_sent(invocation, asked) < TIMEOUT_MS / 1000, emulator.output
        output = emulator.output
        [warning] = [line for line in output.splitlines() if GUARD_LINE in line]
        assert "WARNING" in warning
        assert "BACKGROUND CANCELLED /bg-long" in output
        assert "BACKGROUND DONE /bg-long" not in output
        assert answer(emulator.invoke(url_event("/ping"))) == (200, b"pong")


# -- the official client ------------------------------------------------------------------------


def test_official_client_answers_after_the_background_work() -> None:
    """awslambdaric posts what the handler returns: the work delays the response (documented),
    and the guard's cut is logged the same way."""
    with runtime([*RIC, f"{APP}.handler"]) as emulator:
        warm(emulator)
        invocation = emulator.invoke(url_event("/bg"))
        assert answer(invocation) == (200, b"answered")
        assert invocation.duration >= AFTER_WORK
        assert "BACKGROUND DONE /bg" in emulator.output  # written before the answer
        cut = emulator.invoke(url_event("/bg-long"), timeout_ms=TIMEOUT_MS)
        assert answer(cut) == (200, b"answered")
        assert 0.8 <= cut.duration < TIMEOUT_MS / 1000, emulator.output
        output = emulator.output
        [warning] = [line for line in output.splitlines() if GUARD_LINE in line]
        assert "WARNING" in warning
        assert "BACKGROUND CANCELLED /bg-long" in output
        assert answer(emulator.invoke(url_event("/ping"))) == (200, b"pong")


# -- mangum-like serve --------------------------------------------------------------------------


class Lines:
    """The lines a process writes to ``stream``, each with the monotonic time it was read."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
        except (OSError, ValueError):
            pass  # the pipe was closed when the process was stopped

    def wait_for(self, text: str, seconds: float) -> float:
        """When a line containing ``text`` was read; fails after ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for at, line in list(self.lines):
                if text in line:
                    return at
            time.sleep(0.01)
        raise AssertionError(f"no line with {text!r} within {seconds} s: {self.lines}")


def get(port: int, path: str) -> tuple[int, bytes, float]:
    """Status, body and the monotonic time the whole response had arrived."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return response.status, body, time.monotonic()
    finally:
        connection.close()


def test_serve_writes_the_response_before_the_background_work() -> None:
    args = [*CLI, "serve", f"{APP}:handler", "--port", "0"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with serve_process(args, env=env) as served:
        assert served.process.stdout is not None
        lines = Lines(served.process.stdout)
        assert get(served.port, "/ping")[:2] == (200, b"pong")  # warm: the lifespan started
        started = time.monotonic()
        status, body, answered = get(served.port, "/bg")
        assert (status, body) == (200, b"answered")
        assert answered - started < 0.3
        # The next request is served once the app has returned from /bg.
        status, body, pinged = get(served.port, "/ping")
        assert (status, body) == (200, b"pong")
        assert pinged - started >= AFTER_WORK
        done = lines.wait_for("BACKGROUND DONE /bg", 3)
        assert done > answered
    assert served.status == 0, served.stderr
