"""One behaviour, every sink: the buffered result, the stream, and the early result.

Each case runs one app behaviour through the three ways an invocation answers, on asyncio and
trio, and checks what the client gets: ``handler(event, context)``, ``handler.stream(...)`` and
the early sink the runtime loop and ``serve`` use (the result handed over at the last body
message, while the app goes on).
"""

from __future__ import annotations

import base64
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

import mangum_like._adapter
import mangum_like._environment
import mangum_like._invocation
from mangum_like import Mangum
from mangum_like._environment import _Process
from mangum_like._invocation import Early, Streamed, invoke
from mangum_like._types import Receive, Scope, Send

from .helpers import Context, load_event
from .test_streaming import RecordingStream

MakeHandler = Callable[..., Mangum]
URL_EVENT = "powertools/function-url/lambdaFunctionUrlEvent.json"
BIG = 7 * 1024 * 1024  # over the 6 MB buffered quota, well within the streamed one
SINKS = ["buffered", "streamed", "early"]


@dataclass
class Answer:
    """What the client got through one sink."""

    status: int
    headers: dict[str, str]
    body: bytes
    cut_off: bool = False  # a stream that started and was then ended as failed
    # The early sink: whether the result was handed over while the app still ran.
    handed_over_while_running: bool | None = None
    log: list[str] = field(default_factory=list)


class App:
    """An ASGI app whose behaviour the request path names."""

    def __init__(self) -> None:
        self.running = False
        self.after_response: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.running = True
        try:
            await self.serve(scope["path"], receive, send)
        finally:
            self.running = False

    async def serve(self, path: str, receive: Receive, send: Send) -> None:
        await receive()
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
        }
        if path == "/raise-before":
            raise RuntimeError("boom before")
        if path == "/slow":  # the deadline comes before the response
            await anyio.sleep(5)
        if path == "/until-disconnect":  # SIGTERM comes before the response
            while (await receive())["type"] != "http.disconnect":
                pass
            await anyio.sleep(5)
        if path == "/big":
            await send({**start, "headers": [(b"content-type", b"application/octet-stream")]})
            await send({"type": "http.response.body", "body": b"x" * BIG})
            return
        await send(start)
        if path == "/raise-after-start":
            raise RuntimeError("boom after start")
        await send({"type": "http.response.body", "body": b"ok"})
        if path == "/raise-after-complete":
            raise RuntimeError("boom after complete")
        if path in ("/background", "/background-cut"):
            await anyio.sleep(0.3 if path == "/background" else 5)
            self.after_response.append(path)


def event_for(path: str, method: str = "GET") -> dict[str, Any]:
    event = load_event(URL_EVENT)
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    return event


def through(sink: str, handler: Mangum, app: App, event: dict[str, Any], context: Any) -> Answer:
    if sink == "buffered":
        return from_result(handler(event, context))
    if sink == "streamed":
        stream = RecordingStream()
        assert handler.stream(event, context, stream) is None
        prelude = stream.prelude
        return Answer(
            prelude["statusCode"],
            {k.lower(): v for k, v in prelude.get("headers", {}).items()},
            stream.body,
            cut_off="fail" in stream.kinds,
        )
    handed: list[tuple[Any, bool]] = []

    def deliver(answer: Callable[[], Any]) -> None:
        handed.append((answer(), app.running))

    assert invoke(handler, event, context, Early(deliver)) is None
    [(result, running)] = handed  # exactly once
    answer = from_result(result)
    answer.handed_over_while_running = running
    return answer


def from_result(result: dict[str, Any]) -> Answer:
    body = result.get("body", "")
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in result.get("headers", {}).items()}
    return Answer(result["statusCode"], headers, data)


@pytest.fixture(params=SINKS)
def sink(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app() -> App:
    return App()


@pytest.fixture
def handler(app: App, backend: str, make_handler: MakeHandler) -> Mangum:
    return make_handler(app, backend=backend)


def errors(caplog: pytest.LogCaptureFixture, level: int = logging.ERROR) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno == level and r.name == "mangum_like"
    ]


class TestMatrix:
    def test_success(self, sink: str, handler: Mangum, app: App) -> None:
        answer = through(sink, handler, app, event_for("/ok"), Context())
        assert (answer.status, answer.body, answer.cut_off) == (200, b"ok", False)
        assert answer.headers["content-type"] == "text/plain"

    def test_exception_before_the_response_starts_answers_500(
        self, sink: str, handler: Mangum, app: App, caplog: pytest.LogCaptureFixture
    ) -> None:
        answer = through(sink, handler, app, event_for("/raise-before"), Context())
        assert (answer.status, answer.body) == (500, b"Internal Server Error")
        [line] = errors(caplog)
        assert "raised before completing the response to GET /raise-before" in line

    def test_exception_after_the_response_started(
        self, sink: str, handler: Mangum, app: App, caplog: pytest.LogCaptureFixture
    ) -> None:
        answer = through(sink, handler, app, event_for("/raise-after-start"), Context())
        if sink == "streamed":
            # The status and headers went out already: the stream can only be cut off.
            assert (answer.status, answer.body, answer.cut_off) == (200, b"", True)
            assert "ending the stream as failed" in errors(caplog)[0]
        else:
            assert (answer.status, answer.body) == (500, b"Internal Server Error")
            assert "answering 500" in errors(caplog)[0]

    def test_exception_after_the_complete_response_keeps_it(
        self, sink: str, handler: Mangum, app: App, caplog: pytest.LogCaptureFixture
    ) -> None:
        answer = through(sink, handler, app, event_for("/raise-after-complete"), Context())
        assert (answer.status, answer.body, answer.cut_off) == (200, b"ok", False)
        [line] = errors(caplog)
        assert "raised after it had sent its 200 response" in line
        [raised] = [r.exc_info[1] for r in caplog.records if r.exc_info]
        assert raised is not None and raised.args == ("boom after complete",)

    def test_malformed_event_answers_400(
        self, sink: str, handler: Mangum, app: App, caplog: pytest.LogCaptureFixture
    ) -> None:
        event = event_for("/ok")
        event["body"] = 5  # Function URLs send the body as a string
        answer = through(sink, handler, app, event, Context())
        assert answer.status == 400
        assert answer.body.startswith(b"Bad Request: the event's body must be a string")
        assert app.after_response == []
        # The environment goes on: the next invocation is answered.
        assert through(sink, handler, app, event_for("/ok"), Context()).status == 200

    def test_result_too_large(
        self, sink: str, handler: Mangum, app: App, caplog: pytest.LogCaptureFixture
    ) -> None:
        answer = through(sink, handler, app, event_for("/big"), Context())
        if sink == "streamed":
            # Streaming has no 6 MB quota: the whole body goes out.
            assert (answer.status, len(answer.body)) == (200, BIG)
        else:
            assert answer.status == 502
            assert answer.body == b"Bad Gateway: response too large for AWS Lambda"
            assert "over the 6291556-byte limit" in errors(caplog)[0]

    def test_deadline_before_the_response_answers_504(
        self, sink: str, handler: Mangum, app: App, caplog: pytest.LogCaptureFixture
    ) -> None:
        started = time.monotonic()
        answer = through(sink, handler, app, event_for("/slow"), Context(remaining_ms=700))
        assert time.monotonic() - started < 1.0
        assert (answer.status, answer.body) == (504, b"Gateway Timeout")
        [line] = errors(caplog)
        assert "GET /slow was cut short" in line

    def test_deadline_after_the_response_is_logged(
        self, sink: str, handler: Mangum, app: App, caplog: pytest.LogCaptureFixture
    ) -> None:
        answer = through(sink, handler, app, event_for("/background-cut"), Context(700))
        assert (answer.status, answer.body, answer.cut_off) == (200, b"ok", False)
        assert app.after_response == []  # cut short
        [line] = errors(caplog, logging.WARNING)
        assert "GET /background-cut: the deadline guard cut short" in line
        if sink == "early":
            assert answer.handed_over_while_running is True

    def test_work_after_the_response_runs_to_its_end(
        self, sink: str, handler: Mangum, app: App
    ) -> None:
        answer = through(sink, handler, app, event_for("/background"), Context())
        assert (answer.status, answer.body) == (200, b"ok")
        assert app.after_response == ["/background"]
        # Only the early sink hands the result over before the app has finished.
        if sink == "early":
            assert answer.handed_over_while_running is True

    def test_head_sends_no_body(self, sink: str, handler: Mangum, app: App) -> None:
        answer = through(sink, handler, app, event_for("/ok", "HEAD"), Context())
        assert (answer.status, answer.body) == (200, b"")
        assert answer.headers["content-length"] == "2"


@pytest.fixture
def process(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Process]:
    """A fresh process-wide state, as in a new Lambda runtime, whose SIGTERM we send."""
    fresh = _Process()
    for module in (mangum_like._environment, mangum_like._adapter, mangum_like._invocation):
        monkeypatch.setattr(module, "PROCESS", fresh)
    previous = signal.getsignal(signal.SIGTERM)
    yield fresh
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_during_an_invocation(
    sink: str, backend: str, process: _Process, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    events: list[str] = []

    async def with_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await app(scope, receive, send)

    handler = Mangum(with_lifespan, backend=backend)
    handler.startup()
    chained: list[int] = []
    process.previous = lambda signum, frame: chained.append(signum)
    timer = threading.Timer(0.2, process.on_sigterm, (signal.SIGTERM, None))
    timer.start()
    try:
        answer = through(sink, handler, app, event_for("/until-disconnect"), Context())
    finally:
        timer.join()
    assert (answer.status, answer.body) == (504, b"Gateway Timeout")
    assert "the execution environment is ending (SIGTERM)" in errors(caplog)[0]
    # Shutdown ran once the invocation had returned, then the previous handler.
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    assert chained == [signal.SIGTERM]


def test_a_source_that_cannot_stream_goes_to_the_streams_stand_in(
    handler: Mangum, app: App
) -> None:
    """ALB cannot stream: with a stand-in sink, its result is handed over early instead."""
    event = load_event("powertools/alb-single/albEvent.json")
    event["path"] = "/background"
    event["httpMethod"] = "GET"
    handed: list[tuple[Any, bool]] = []
    stream = RecordingStream()

    def deliver(answer: Callable[[], Any]) -> None:
        handed.append((answer(), app.running))

    instead = Early(deliver)
    assert invoke(handler, event, Context(), Streamed(stream, instead)) is None
    assert stream.calls == []
    [(result, running)] = handed
    assert (result["statusCode"], result["body"], running) == (200, "ok", True)
    assert app.after_response == ["/background"]
