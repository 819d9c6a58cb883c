"""Work the app does after its response (BackgroundTasks, code after the last send): it runs to
its end within the deadline, and when the deadline guard cuts it short the log says so."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mangum_like import Mangum

from .helpers import Context, load_event
from .test_streaming import RecordingStream

MakeHandler = Callable[..., Mangum]
HTTP_API = "powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json"
FUNCTION_URL = "powertools/function-url/lambdaFunctionUrlEvent.json"


def app_with_background(seconds: float, finished: list[str]) -> Starlette:
    async def work() -> None:
        await anyio.sleep(seconds)
        finished.append("background work")

    async def route(request: Request) -> PlainTextResponse:
        return PlainTextResponse("answered", background=BackgroundTask(work))

    return Starlette(routes=[Route("/{path:path}", route)])


def cut_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "the deadline guard cut short what" in r.getMessage()]


class TestBuffered:
    def test_work_within_the_deadline_runs_to_its_end(
        self, backend: str, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
    ) -> None:
        finished: list[str] = []
        handler = make_handler(app_with_background(0.3, finished), backend=backend)
        started = time.monotonic()
        result = handler(load_event(HTTP_API), Context())
        # The handler returns its result: background work delays it, as the README says.
        assert time.monotonic() - started >= 0.3
        assert (result["statusCode"], result["body"]) == (200, "answered")
        assert finished == ["background work"]
        assert cut_lines(caplog) == []

    def test_work_cut_by_the_guard_is_logged(
        self, backend: str, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
    ) -> None:
        finished: list[str] = []
        handler = make_handler(
            app_with_background(5, finished), backend=backend, timeout_margin=0.2
        )
        with caplog.at_level(logging.WARNING, logger="mangum_like"):
            result = handler(load_event(HTTP_API), Context(remaining_ms=400))
        assert (result["statusCode"], result["body"]) == (200, "answered")
        assert finished == []
        [record] = cut_lines(caplog)
        assert record.levelno == logging.WARNING
        message = record.getMessage()
        assert message.startswith("GET /my/path: the deadline guard cut short what the app ")
        seconds = float(message.split("still did ")[1].split(" s after")[0])
        assert 0.1 <= seconds <= 1.0
        assert "(BackgroundTasks, code after the last send)" in message


class TestStreamed:
    def test_work_cut_by_the_guard_is_logged(
        self, backend: str, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
    ) -> None:
        finished: list[str] = []
        handler = make_handler(
            app_with_background(5, finished), backend=backend, timeout_margin=0.2
        )
        stream = RecordingStream()
        with caplog.at_level(logging.WARNING, logger="mangum_like"):
            assert (
                handler.stream(load_event(FUNCTION_URL), Context(remaining_ms=400), stream) is None
            )
        # The stream ended at the app's last body message, before the background work.
        assert stream.kinds == ["start", "write", "end"]
        assert stream.body == b"answered"
        assert finished == []
        [record] = cut_lines(caplog)
        assert record.getMessage().startswith("GET /: the deadline guard cut short what the app")
