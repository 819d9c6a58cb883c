"""The ASGI lifespan: one startup per environment, one shutdown, state, modes and failures.

DESIGN.md section 2: startup runs once per execution environment (not per invocation), shutdown
runs once, every request scope gets a shallow copy of the lifespan ``state``, ``auto`` tolerates
an app without lifespan support, ``on`` requires it, and a failed startup serves nothing and is
retried by the next invocation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from mangum_like import LifespanFailure, LifespanUnsupported, Mangum, UnexpectedMessage
from mangum_like._types import Receive, Scope, Send

from .helpers import Context, Recorder, load_event

EVENT = "powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json"

MakeHandler = Callable[..., Mangum]


def invoke(handler: Mangum) -> dict[str, Any]:
    result: dict[str, Any] = handler(load_event(EVENT), Context())
    return result


def mangum_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "mangum_like"]


async def respond(send: Send, body: bytes = b"ok") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class DjangoLike:
    """Raises at once on anything but HTTP, as Django's ``ASGIHandler`` does."""

    def __init__(self) -> None:
        self.scope_types: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope_types.append(scope["type"])
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await receive()
        await respond(send)


class FlakyStartup:
    """Fails its first lifespan startup in the way ``failure`` names, then starts normally."""

    def __init__(self, failure: str) -> None:
        self.failure = failure
        self.attempts = 0
        self.error: Exception | None = None
        self.requests: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        self.requests.append(scope)
        await receive()
        await respond(send)

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        self.attempts += 1
        scope["state"]["attempt"] = self.attempts
        if self.attempts == 1:
            scope["state"]["half_started"] = True
            await self.fail(send)
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        await send({"type": "lifespan.shutdown.complete"})

    async def fail(self, send: Send) -> None:
        if self.failure == "failed":
            await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
        elif self.failure == "raise":
            self.error = RuntimeError("database unreachable")
            raise self.error
        elif self.failure == "timeout":
            await anyio.sleep(10)
        # "return": return without answering lifespan.startup


class FailingShutdown:
    """Starts normally; answers ``lifespan.shutdown`` in the way ``failure`` names."""

    def __init__(self, failure: str) -> None:
        self.failure = failure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await receive()
            await respond(send)
            return
        await receive()
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        if self.failure == "failed":
            await send({"type": "lifespan.shutdown.failed", "message": "could not flush"})
        elif self.failure == "raise":
            raise RuntimeError("could not flush")
        elif self.failure == "timeout":
            await anyio.sleep(10)
        # "return": return without answering lifespan.shutdown


class TestStartupAndShutdown:
    def test_startup_runs_once_across_many_invocations(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = Recorder()
        handler = make_handler(app, backend=backend)

        results = [invoke(handler) for _ in range(5)]
        handler.startup()  # explicit startup on a started handler changes nothing

        assert [result["statusCode"] for result in results] == [200] * 5
        assert len(app.scopes) == 5
        assert app.lifespan_events == ["lifespan.startup"]

    def test_explicit_startup_runs_before_the_first_invocation(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = Recorder()
        handler = make_handler(app, backend=backend)

        handler.startup()
        assert app.lifespan_events == ["lifespan.startup"]
        assert invoke(handler)["statusCode"] == 200

        assert app.lifespan_events == ["lifespan.startup"]

    def test_shutdown_runs_once(self, backend: str) -> None:
        app = Recorder()
        handler = Mangum(app, backend=backend)
        invoke(handler)
        invoke(handler)

        handler.shutdown()
        assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown"]
        handler.shutdown()  # a second shutdown is harmless

        assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown"]

    def test_shutdown_of_a_handler_never_started_is_harmless(self, backend: str) -> None:
        app = Recorder()
        handler = Mangum(app, backend=backend)

        handler.shutdown()

        assert app.lifespan_events == []

    def test_context_manager_starts_on_enter_and_shuts_down_on_exit(self, backend: str) -> None:
        app = Recorder()

        with Mangum(app, backend=backend) as handler:
            assert app.lifespan_events == ["lifespan.startup"]
            assert invoke(handler)["statusCode"] == 200
            assert invoke(handler)["statusCode"] == 200
            assert app.lifespan_events == ["lifespan.startup"]

        assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown"]

    def test_invocation_after_shutdown_starts_the_lifespan_again(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = Recorder(lifespan_state={"pool": "ready"})
        handler = make_handler(app, backend=backend)
        invoke(handler)
        handler.shutdown()

        result = invoke(handler)

        assert result["statusCode"] == 200
        assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown", "lifespan.startup"]
        assert app.scope["state"] == {"pool": "ready"}


class StateApp:
    """Puts a value and a mutable object in the lifespan state; each request mutates its copy."""

    def __init__(self) -> None:
        self.items: list[int] = []
        self.lifespan_state: dict[str, Any] = {}
        self.states: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            self.lifespan_state = scope["state"]
            scope["state"].update(greeting="hello", items=self.items)
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        state = scope["state"]
        self.states.append(state)
        self.seen.append(dict(state))
        state["greeting"] = "changed by a request"
        state["added"] = True
        state["items"].append(len(self.states))
        await receive()
        await respond(send)


class TestState:
    def test_every_request_scope_has_the_lifespan_state(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = Recorder(lifespan_state={"db": "connection", "settings": {"debug": False}})
        handler = make_handler(app, backend=backend)

        invoke(handler)
        invoke(handler)

        assert [scope["state"] for scope in app.scopes] == [
            {"db": "connection", "settings": {"debug": False}},
            {"db": "connection", "settings": {"debug": False}},
        ]

    def test_each_request_gets_a_shallow_copy(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = StateApp()
        handler = make_handler(app, backend=backend)

        for _ in range(3):
            assert invoke(handler)["statusCode"] == 200

        # Rebinding or adding keys in one request's copy is invisible to the next request...
        assert [seen.keys() == {"greeting", "items"} for seen in app.seen] == [True] * 3
        assert [seen["greeting"] for seen in app.seen] == ["hello"] * 3
        assert app.lifespan_state == {"greeting": "hello", "items": app.items}
        # ...each request has its own dict, none of them the lifespan's...
        assert len({id(state) for state in app.states}) == 3
        assert all(state is not app.lifespan_state for state in app.states)
        # ...but a mutable object stored in the state is the same object everywhere.
        assert all(seen["items"] is app.items for seen in app.seen)
        assert app.items == [1, 2, 3]


class TestModes:
    def test_off_never_sends_lifespan_events(self, backend: str, make_handler: MakeHandler) -> None:
        app = DjangoLike()
        handler = make_handler(app, "off", backend=backend)

        results = [invoke(handler) for _ in range(3)]

        assert [result["statusCode"] for result in results] == [200] * 3
        assert app.scope_types == ["http"] * 3

    def test_off_sends_no_shutdown_either(self, backend: str) -> None:
        app = Recorder()
        handler = Mangum(app, lifespan="off", backend=backend)
        invoke(handler)

        handler.shutdown()

        assert app.lifespan_events == []
        assert len(app.scopes) == 1
        assert app.scope["state"] == {}

    def test_auto_tolerates_an_app_without_lifespan_and_logs_once(
        self, backend: str, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="mangum_like")
        app = DjangoLike()
        handler = make_handler(app, "auto", backend=backend)

        assert invoke(handler)["statusCode"] == 200
        records = mangum_records(caplog)
        assert [record.levelno for record in records] == [logging.INFO]
        assert "lifespan" in records[0].getMessage()

        caplog.clear()
        assert invoke(handler)["statusCode"] == 200
        assert invoke(handler)["statusCode"] == 200

        assert mangum_records(caplog) == []
        assert app.scope_types == ["lifespan", "http", "http", "http"]

    def test_on_with_an_app_without_lifespan_raises(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = DjangoLike()
        handler = make_handler(app, "on", backend=backend)

        with pytest.raises(LifespanUnsupported) as info:
            invoke(handler)

        assert isinstance(info.value, LifespanFailure)
        assert isinstance(info.value.__cause__, ValueError)
        assert app.scope_types == ["lifespan"]

        # No request is served on an app that did not start; the next invocation tries again.
        with pytest.raises(LifespanUnsupported):
            invoke(handler)
        assert app.scope_types == ["lifespan", "lifespan"]

    def test_lifespan_unsupported_is_a_lifespan_failure(self) -> None:
        assert issubclass(LifespanUnsupported, LifespanFailure)


STARTUP_FAILURES = pytest.mark.parametrize(
    ("failure", "app_message"),
    [
        pytest.param("failed", "database unreachable", id="startup.failed"),
        pytest.param("raise", "database unreachable", id="raise"),
        pytest.param("return", None, id="return-without-answer"),
        pytest.param("timeout", None, id="startup_timeout"),
    ],
)


class TestStartupFailure:
    @STARTUP_FAILURES
    @pytest.mark.parametrize("lifespan", ["auto", "on"])
    def test_failed_startup_raises_and_serves_nothing(
        self,
        backend: str,
        make_handler: MakeHandler,
        lifespan: str,
        failure: str,
        app_message: str | None,
    ) -> None:
        app = FlakyStartup(failure)
        timeout = 0.05 if failure == "timeout" else None
        handler = make_handler(app, lifespan, backend=backend, startup_timeout=timeout)

        with pytest.raises(LifespanFailure) as info:
            invoke(handler)

        assert not isinstance(info.value, LifespanUnsupported)
        if app_message is not None:
            assert app_message in str(info.value)
        if failure == "raise":
            assert info.value.__cause__ is app.error
        if failure == "timeout":
            assert "startup_timeout" in str(info.value)
        assert app.requests == []

    @STARTUP_FAILURES
    @pytest.mark.parametrize("lifespan", ["auto", "on"])
    def test_next_invocation_retries_startup(
        self,
        backend: str,
        make_handler: MakeHandler,
        lifespan: str,
        failure: str,
        app_message: str | None,
    ) -> None:
        app = FlakyStartup(failure)
        timeout = 0.05 if failure == "timeout" else None
        handler = make_handler(app, lifespan, backend=backend, startup_timeout=timeout)
        with pytest.raises(LifespanFailure):
            invoke(handler)

        first = invoke(handler)
        second = invoke(handler)

        assert (first["statusCode"], second["statusCode"]) == (200, 200)
        assert app.attempts == 2
        # Only the state of the successful startup, nothing from the failed one.
        assert [scope["state"] for scope in app.requests] == [{"attempt": 2}, {"attempt": 2}]

    @pytest.mark.parametrize("lifespan", ["auto", "on"])
    def test_unexpected_message_in_lifespan_fails_startup(
        self, backend: str, make_handler: MakeHandler, lifespan: str
    ) -> None:
        errors: list[Exception] = []
        requests: list[Scope] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "lifespan":
                requests.append(scope)
                await respond(send)
                return
            await receive()
            try:
                await send({"type": "http.response.start", "status": 200, "headers": []})
            except Exception as exc:
                errors.append(exc)
                raise

        handler = make_handler(app, lifespan, backend=backend)

        with pytest.raises(LifespanFailure) as info:
            invoke(handler)

        assert [type(error) for error in errors] == [UnexpectedMessage]
        assert info.value.__cause__ is errors[0]
        assert requests == []


class TestShutdownFailure:
    @pytest.mark.parametrize(
        ("failure", "level", "text"),
        [
            pytest.param("failed", logging.ERROR, "could not flush", id="shutdown.failed"),
            pytest.param("raise", logging.ERROR, "could not flush", id="raise"),
            pytest.param("return", logging.ERROR, "returned", id="return-without-answer"),
            pytest.param("timeout", logging.WARNING, "shutdown_timeout", id="shutdown_timeout"),
        ],
    )
    def test_failed_shutdown_is_logged_and_bounded(
        self,
        backend: str,
        caplog: pytest.LogCaptureFixture,
        failure: str,
        level: int,
        text: str,
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="mangum_like")
        timeout = 0.05 if failure == "timeout" else 0.4
        handler = Mangum(FailingShutdown(failure), backend=backend, shutdown_timeout=timeout)
        assert invoke(handler)["statusCode"] == 200
        caplog.clear()

        started = time.monotonic()
        handler.shutdown()
        elapsed = time.monotonic() - started

        assert elapsed < 2
        records = [record for record in mangum_records(caplog) if record.levelno >= logging.INFO]
        assert [record.levelno for record in records] == [level]
        record = records[0]
        logged = record.getMessage() + (caplog.text if record.exc_info else "")
        assert text in logged
        if failure == "raise":
            assert record.exc_info is not None
            assert isinstance(record.exc_info[1], RuntimeError)

    def test_after_a_failed_shutdown_the_handler_starts_again(self, backend: str) -> None:
        app = FailingShutdown("raise")
        handler = Mangum(app, backend=backend)
        invoke(handler)
        handler.shutdown()

        assert invoke(handler)["statusCode"] == 200

        handler.shutdown()


class Ticker:
    """A background task's mailbox: a request wakes the task and waits for its reply."""

    def __init__(self) -> None:
        self.wake = anyio.Event()
        self.reply = anyio.Event()
        self.ticks = 0

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake = anyio.Event()
            self.ticks += 1
            self.reply.set()

    async def tick(self) -> int:
        self.reply = anyio.Event()
        self.wake.set()
        with anyio.fail_after(5):  # a guard against a hang, not synchronisation
            await self.reply.wait()
        return self.ticks


async def answer_with_ticks(scope: Scope, receive: Receive, send: Send) -> None:
    ticker: Ticker = scope["state"]["ticker"]
    ticks = await ticker.tick()
    await receive()
    await respond(send, str(ticks).encode())


class TestBackgroundTasks:
    def test_task_group_started_in_lifespan_runs_across_invocations(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        tickers: list[Ticker] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "lifespan":
                await answer_with_ticks(scope, receive, send)
                return
            await receive()
            ticker = Ticker()
            tickers.append(ticker)
            scope["state"]["ticker"] = ticker
            async with anyio.create_task_group() as tg:
                tg.start_soon(ticker.run)
                await send({"type": "lifespan.startup.complete"})
                await receive()
                tg.cancel_scope.cancel()
            await send({"type": "lifespan.shutdown.complete"})

        handler = make_handler(app, "on", backend=backend)

        bodies = [invoke(handler)["body"] for _ in range(2)]

        assert bodies == ["1", "2"]
        assert len(tickers) == 1
        assert tickers[0].ticks == 2

    def test_asyncio_task_created_in_lifespan_runs_across_invocations(
        self, make_handler: MakeHandler
    ) -> None:
        tickers: list[Ticker] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "lifespan":
                await answer_with_ticks(scope, receive, send)
                return
            await receive()
            ticker = Ticker()
            tickers.append(ticker)
            scope["state"]["ticker"] = ticker
            task = asyncio.create_task(ticker.run())
            await send({"type": "lifespan.startup.complete"})
            await receive()
            task.cancel()
            await asyncio.wait([task])
            await send({"type": "lifespan.shutdown.complete"})

        handler = make_handler(app, "on", backend="asyncio")

        bodies = [invoke(handler)["body"] for _ in range(3)]

        assert bodies == ["1", "2", "3"]
        assert tickers[0].ticks == 3
