"""The handler object: options, lifecycle hooks, and the faults it turns into answers."""

from __future__ import annotations

import atexit
import contextvars
import gc
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import mangum_like._adapter
from mangum_like import ConfigurationError, LifespanFailure, Mangum
from mangum_like._environment import _LIVE, PROCESS, shutdown_at_exit
from mangum_like._sources._base import SourceConfig, http_version
from mangum_like._types import Message, Receive, Scope, Send

from .helpers import Context, Recorder, load_event

MakeHandler = Callable[..., Mangum]
HTTP_API = "powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json"
REST = "powertools/apigw-rest-v1/getting_started_rest_api_resolver.json"


def test_trio_backend_needs_trio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mangum_like._adapter, "_installed", lambda module: False)
    with pytest.raises(ConfigurationError, match="pip install trio"):
        Mangum(Recorder(), backend="trio")


class TestAtExit:
    def test_interpreter_exit_runs_shutdown_once(
        self, monkeypatch: pytest.MonkeyPatch, backend: str
    ) -> None:
        app = Recorder()
        handler = Mangum(app, backend=backend)
        handler(load_event(HTTP_API), Context())
        handler(load_event(HTTP_API), Context())
        assert PROCESS.exit_hooked
        shutdown_at_exit()  # what the interpreter does at exit
        assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown"]
        shutdown_at_exit()  # shutdown runs once, whichever way it is triggered
        handler.shutdown()
        assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown"]

    def test_the_exit_hook_runs_before_threads_are_joined(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        hooks: list[Callable[[], None]] = []
        monkeypatch.setattr(PROCESS, "exit_hooked", False)
        monkeypatch.setattr(threading, "_register_atexit", hooks.append, raising=False)
        monkeypatch.setattr(atexit, "register", hooks.append)
        handler = Mangum(Recorder())
        handler.startup()
        assert hooks == [shutdown_at_exit]  # threading's hook, not atexit's
        handler.shutdown()

    def test_after_exit_began_atexit_stands_in(self, monkeypatch: pytest.MonkeyPatch) -> None:
        registered: list[Callable[[], None]] = []

        def closed(hook: Callable[[], None]) -> None:
            raise RuntimeError("can't register atexit after shutdown")

        monkeypatch.setattr(PROCESS, "exit_hooked", False)
        monkeypatch.setattr(threading, "_register_atexit", closed, raising=False)
        monkeypatch.setattr(atexit, "register", registered.append)
        handler = Mangum(Recorder())
        handler.startup()
        assert registered == [shutdown_at_exit]
        handler.shutdown()

    def test_a_collected_handler_is_not_kept_alive(self) -> None:
        handler = Mangum(Recorder())
        handler.startup()
        environment = handler._environment
        ref = weakref.ref(handler)
        del handler
        gc.collect()
        assert ref() is None
        # Interpreter exit has nothing left to shut down for it.
        assert environment not in _LIVE


class TestResponseFaults:
    def test_unmappable_response_answers_500(
        self, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture, backend: str
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            start: Message = {"type": "http.response.start", "status": 200}
            start["headers"] = [("content-type", "text/plain")]  # str, not bytes
            await send(start)
            await send({"type": "http.response.body", "body": b"x"})

        handler = make_handler(app, lifespan="off", backend=backend)
        with caplog.at_level(logging.ERROR, logger="mangum_like"):
            result = handler(load_event(REST), Context())
        assert result == {
            "statusCode": 500,
            "headers": {"content-type": "text/plain; charset=utf-8"},
            "multiValueHeaders": {},
            "body": "Internal Server Error",
            "isBase64Encoded": False,
        }
        assert "could not be mapped" in caplog.text


APP_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("app_var", default="caller")


class _SeenContext(logging.Handler):
    """Records, for each record, the value APP_VAR has where the record is emitted."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), APP_VAR.get()))


class TestAppExceptionsAreLoggedInTheAppsContext:
    """What reports errors (Sentry's deduplication) keeps state in context variables set while
    the app ran: the log line of the app's exception is emitted in the app's own context."""

    @pytest.mark.parametrize("after_response", [False, True], ids=["before", "after-500"])
    def test_the_app_context_is_current_when_its_exception_is_logged(
        self, make_handler: MakeHandler, backend: str, after_response: bool
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            APP_VAR.set("app")
            if after_response:
                await send({"type": "http.response.start", "status": 500, "headers": []})
                await send({"type": "http.response.body", "body": b"oops"})
            raise ZeroDivisionError("boom")

        seen = _SeenContext()
        library = logging.getLogger("mangum_like")
        library.addHandler(seen)
        try:
            result = make_handler(app, lifespan="off", backend=backend)(load_event(REST), Context())
        finally:
            library.removeHandler(seen)
        assert result["statusCode"] == 500
        [(message, value)] = [(m, v) for m, v in seen.seen if "GET" in m or "POST" in m]
        assert ("Exception in the app" if after_response else "The app raised") in message
        assert value == "app"
        assert APP_VAR.get() == "caller"  # the caller's own context is left as it was


class TestStartupFailureWhileTheAppRuns:
    def test_failed_startup_of_a_running_app_is_cancelled_and_retried(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        attempts: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await receive()
                if not attempts:
                    attempts.append("failed")
                    await send({"type": "lifespan.startup.failed", "message": "db down"})
                    await anyio.sleep_forever()  # never returns: must be cancelled
                attempts.append("complete")
                await send({"type": "lifespan.startup.complete"})
                await receive()
                await send({"type": "lifespan.shutdown.complete"})
                return
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        handler = make_handler(app, lifespan="on", backend=backend)
        with pytest.raises(LifespanFailure, match="db down"):
            handler(load_event(HTTP_API), Context())
        assert handler(load_event(HTTP_API), Context())["statusCode"] == 204
        assert attempts == ["failed", "complete"]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.mark.anyio
async def test_startup_timeout_inside_a_running_loop(
    anyio_backend: str, backend: str, make_handler: MakeHandler
) -> None:
    started: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        started.append(1)
        if len(started) == 1:
            await anyio.sleep(30)  # far past the timeout
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    handler = make_handler(app, lifespan="on", backend=backend, startup_timeout=0.05)
    with pytest.raises(LifespanFailure, match="startup_timeout"):
        handler.startup()
    handler.startup()  # the next attempt succeeds
    assert started == [1, 1]


class TestEventValues:
    def test_non_string_and_non_latin1_header_values(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        event = load_event(
            REST,
            headers=None,
            multiValueHeaders={
                "X-Flag": [True, False],
                "X-None": None,
                "X-Single": "not-a-list",
                "X-Empty": [None],
                "X-Snow": ["☃"],
            },
        )
        assert make_handler(app)(event, Context())["statusCode"] == 200
        assert app.scope["headers"] == [
            (b"x-flag", b"true"),
            (b"x-flag", b"false"),
            (b"x-single", b"not-a-list"),
            (b"x-empty", b""),
            (b"x-snow", "☃".encode()),
        ]

    @pytest.mark.parametrize(
        ("protocol", "version"),
        [
            ("HTTP/1.0", "1.0"),
            ("HTTP/1.1", "1.1"),
            ("HTTP/2.0", "2"),
            ("HTTP/2", "2"),
            ("HTTP/3", "3"),
            ("SPDY/9", "1.1"),
            (None, "1.1"),
        ],
    )
    def test_http_version(self, protocol: Any, version: str) -> None:
        assert http_version(protocol) == version

    def test_text_type_cache_is_bounded(self) -> None:
        config = SourceConfig("/", ["x/custom"], [])
        for index in range(400):
            assert config.is_text(f"text/plain; v={index}")
        assert config.is_text("X/Custom; charset=utf-8")
        assert not config.is_text("image/png")
        assert len(config.text_cache) == 256
