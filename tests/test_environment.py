"""The edges of an execution environment's life, in process: the deadline guard, SIGTERM,
the no-op extension, SnapStart, and handlers dropped without ``shutdown()``.

The same behaviours under the official runtime client are in test_lambda_e2e.py.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

import mangum_like._environment as environment_module
from mangum_like import ConfigurationError, Mangum
from mangum_like._environment import EXTENSION_NAME, Environment, _Process
from mangum_like._loop import AsyncioRuntime
from mangum_like._types import Receive, Scope, Send
from tests.lambda_emulator import RUNTIME, RuntimeAPIEmulator

from .helpers import Context, Recorder, load_event

EVENT = "powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json"
MakeHandler = Callable[..., Mangum]
TEXT = [(b"content-type", b"text/plain")]


def invoke(handler: Mangum, context: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = handler(load_event(EVENT), context or Context())
    return result


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "mangum_like" and record.levelno == level
    ]


class SlowApp:
    """Counts in its lifespan state; ``/my/path`` sleeps, listening for the disconnect or not."""

    def __init__(self, seconds: float, listen: bool) -> None:
        self.seconds = seconds
        self.listen = listen
        self.events: list[str] = []
        self.startups = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            self.startups += 1
            scope["state"]["served"] = [0]
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        scope["state"]["served"][0] += 1
        await receive()
        try:
            if self.listen:
                with anyio.move_on_after(self.seconds):
                    message = await receive()
                    self.events.append(message["type"])
            await anyio.sleep(self.seconds)
        except anyio.get_cancelled_exc_class():
            self.events.append("cancelled")
            raise
        await send({"type": "http.response.start", "status": 200, "headers": TEXT})
        await send(
            {"type": "http.response.body", "body": str(scope["state"]["served"][0]).encode()}
        )


class TestDeadlineGuard:
    @pytest.mark.parametrize("listen", [True, False], ids=["listens", "deaf"])
    def test_slow_request_answers_504_and_the_next_is_warm(
        self,
        backend: str,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
        listen: bool,
    ) -> None:
        app = SlowApp(5.0, listen)
        handler = make_handler(app, backend=backend, timeout_margin=0.2)
        started = time.monotonic()
        result = invoke(handler, Context(remaining_ms=400))
        elapsed = time.monotonic() - started

        assert result["statusCode"] == 504
        assert result["body"] == "Gateway Timeout"
        assert elapsed < 0.4  # before Lambda's own deadline
        expected = ["http.disconnect", "cancelled"] if listen else ["cancelled"]
        assert app.events == expected
        assert records(caplog, logging.ERROR) == [
            "GET /my/path was cut short 200 ms into the invocation, 400 ms before the Lambda "
            "deadline (timeout_margin=0.2 s): the app was sent http.disconnect, then cancelled; "
            "answering 504"
        ]

        # The loop, the lifespan and its state survive: the next request is served warm.
        app.seconds = 0
        result = invoke(handler)
        assert (result["statusCode"], result["body"]) == (200, "2")
        assert app.startups == 1

    def test_app_that_ends_on_the_disconnect_answers_504(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        seen: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            await receive()
            message = await receive()  # waits until the guard disconnects
            seen.append(message["type"])

        handler = make_handler(app, backend=backend, timeout_margin=0.1, lifespan="off")
        assert invoke(handler, Context(remaining_ms=150))["statusCode"] == 504
        assert seen == ["http.disconnect"]

    def test_response_complete_before_the_deadline_stands(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 201, "headers": TEXT})
            await send({"type": "http.response.body", "body": b"done"})
            await anyio.sleep(5)  # background work after the response

        handler = make_handler(app, backend=backend, timeout_margin=0.1, lifespan="off")
        result = invoke(handler, Context(remaining_ms=200))
        assert (result["statusCode"], result["body"]) == (201, "done")

    def test_one_timer_serves_invocations_with_any_deadline(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = SlowApp(0.0, listen=False)
        handler = make_handler(app, backend=backend, timeout_margin=0.1)
        assert invoke(handler, Context(remaining_ms=150))["body"] == "1"
        # The timer armed for the first deadline fires during this longer invocation: it
        # re-arms for this one's deadline and cuts nothing short.
        app.seconds = 0.2
        assert invoke(handler, Context(remaining_ms=10_000))["body"] == "2"
        # A nearer deadline than the armed timer's gets its own.
        app.seconds = 5.0
        assert invoke(handler, Context(remaining_ms=300))["statusCode"] == 504
        app.seconds = 0.0
        assert invoke(handler, Context(remaining_ms=150))["body"] == "4"
        time.sleep(0.1)
        handler.shutdown()  # a timer that fires between invocations does nothing
        assert app.events == ["cancelled"]

    def test_deadline_already_within_the_margin(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        app = SlowApp(5.0, listen=True)
        handler = make_handler(app, backend=backend)
        assert invoke(handler, Context(remaining_ms=100))["statusCode"] == 504

    @pytest.mark.parametrize(
        "context",
        [
            pytest.param(object(), id="context-without-the-method"),
            pytest.param(None, id="timeout_margin-None"),
        ],
    )
    def test_guard_off(self, backend: str, make_handler: MakeHandler, context: Any) -> None:
        app = SlowApp(0.05, listen=True)
        margin: dict[str, Any] = {} if context is not None else {"timeout_margin": None}
        handler = make_handler(app, backend=backend, **margin)
        # Without the method, or with the guard off, even a spent deadline cuts nothing short.
        result = invoke(handler, context if context is not None else Context(remaining_ms=0))
        assert (result["statusCode"], result["body"]) == (200, "1")

    def test_inside_a_running_loop(self, backend: str) -> None:
        # The loop runs in its own thread here: the guard waits on the hand-off instead.
        app = SlowApp(5.0, listen=False)
        handler = Mangum(app, backend=backend, timeout_margin=0.1)

        async def main() -> dict[str, Any]:
            return invoke(handler, Context(remaining_ms=200))

        try:
            result = asyncio.run(main())
            assert result["statusCode"] == 504
            assert app.events == ["cancelled"]
            app.seconds = 0
            assert asyncio.run(main())["body"] == "2"
        finally:
            handler.shutdown()

    def test_app_returning_an_awaitable_that_is_not_a_coroutine(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        class Awaitable:
            def __init__(self, coroutine: Any) -> None:
                self.coroutine = coroutine

            def __await__(self) -> Any:
                return self.coroutine.__await__()

        recorder = Recorder()

        def app(scope: Scope, receive: Receive, send: Send) -> Any:
            return Awaitable(recorder(scope, receive, send))

        handler = make_handler(app, backend=backend, lifespan="off")
        assert invoke(handler)["statusCode"] == 200

    def test_app_error_is_still_a_500(self, backend: str, make_handler: MakeHandler) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            raise ValueError("boom")

        handler = make_handler(app, backend=backend, lifespan="off")
        assert invoke(handler)["statusCode"] == 500

    @pytest.mark.parametrize("value", [0, -1, "1", True])
    def test_invalid_margin(self, value: Any) -> None:
        with pytest.raises(ConfigurationError, match="timeout_margin"):
            Mangum(Recorder(), timeout_margin=value)

    def test_invalid_graceful_shutdown(self) -> None:
        with pytest.raises(ConfigurationError, match="graceful_shutdown"):
            Mangum(Recorder(), graceful_shutdown="yes")  # type: ignore[arg-type]


@pytest.fixture
def process(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Process]:
    """A fresh process-wide state (extension, SIGTERM handler), as in a new Lambda runtime."""
    fresh = _Process()
    monkeypatch.setattr(environment_module, "PROCESS", fresh)
    monkeypatch.setattr("mangum_like._adapter.PROCESS", fresh)
    monkeypatch.setattr("mangum_like._invocation.PROCESS", fresh)
    previous = signal.getsignal(signal.SIGTERM)
    yield fresh
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[RuntimeAPIEmulator]:
    with RuntimeAPIEmulator() as emulator:
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", emulator.address)
        yield emulator


class TestExtension:
    def test_registered_at_construction_inside_lambda(
        self, process: _Process, emulator: RuntimeAPIEmulator, make_handler: MakeHandler
    ) -> None:
        make_handler(Recorder())
        make_handler(Recorder())  # once per process, whatever the number of handlers
        [extension] = emulator.registered_extensions
        assert (extension.name, extension.events) == (EXTENSION_NAME, [])
        assert extension.polling.wait(5)  # the long-poll is held, so Init can end
        assert process.extension == extension.identifier
        assert signal.getsignal(signal.SIGTERM) == process.on_sigterm
        [holder] = [t for t in threading.enumerate() if t.name == "mangum_like-extension"]
        assert holder.daemon
        emulator.close()  # the environment is gone: the long-poll ends, and its thread
        holder.join(5)
        assert not holder.is_alive()

    def test_not_outside_lambda(
        self, process: _Process, monkeypatch: pytest.MonkeyPatch, make_handler: MakeHandler
    ) -> None:
        monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
        make_handler(Recorder())
        assert not process.extension_tried
        assert not process.signal_installed

    def test_outside_lambda_no_http_client_is_even_imported(self) -> None:
        # The Runtime API client loads inside Lambda only: cold starts elsewhere stay light.
        code = (
            "import sys\n"
            "from mangum_like import Mangum\n"
            "async def app(scope, receive, send): pass\n"
            "Mangum(app, lifespan='off')\n"
            "assert 'http.client' not in sys.modules, 'http.client'\n"
            "assert 'mangum_like._lambda.rapi' not in sys.modules, 'rapi'\n"
        )
        env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_RUNTIME_API"}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, timeout=30, check=False, capture_output=True
        )
        assert done.returncode == 0, done.stderr

    def test_off(
        self, process: _Process, emulator: RuntimeAPIEmulator, make_handler: MakeHandler
    ) -> None:
        make_handler(Recorder(), graceful_shutdown=False)
        assert emulator.registered_extensions == []
        assert process.signal_installed  # SIGTERM from the user's own extension still counts

    def test_after_init_goes_without_and_says_so(
        self,
        process: _Process,
        emulator: RuntimeAPIEmulator,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG, "mangum_like")
        emulator.submit({})
        from mangum_like._lambda.rapi import Connection

        runtime = Connection(emulator.address, timeout=5)
        runtime.request("GET", f"{RUNTIME}/invocation/next")  # Init is over
        make_handler(Recorder())
        assert emulator.registered_extensions == []
        [line] = [m for m in records(caplog, logging.DEBUG) if "refused" in m]
        assert "built after the Init phase" in line
        assert records(caplog, logging.WARNING) == []
        runtime.close()

    def test_built_during_an_invocation(
        self,
        process: _Process,
        emulator: RuntimeAPIEmulator,
        make_handler: MakeHandler,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG, "mangum_like")
        monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793")
        make_handler(Recorder())
        assert emulator.registered_extensions == []
        assert emulator.rejected_registrations == []
        assert any("after the Init phase" in m for m in records(caplog, logging.DEBUG))

    def test_failure_is_logged_once_and_never_breaks_an_invocation(
        self,
        process: _Process,
        monkeypatch: pytest.MonkeyPatch,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        import socket

        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", f"127.0.0.1:{port}")  # nobody listens
        first = make_handler(Recorder())
        make_handler(Recorder())
        [line] = records(caplog, logging.WARNING)
        assert "Could not reach the Extensions API" in line
        assert invoke(first)["statusCode"] == 200

    def test_rejected_registration_is_a_warning(
        self,
        process: _Process,
        emulator: RuntimeAPIEmulator,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        from mangum_like._lambda.rapi import Connection, register_extension

        connection = Connection(emulator.address, timeout=5)
        register_extension(connection, EXTENSION_NAME, [])  # the name is taken
        make_handler(Recorder())
        [line] = records(caplog, logging.WARNING)
        assert "Could not register the no-op extension" in line
        assert "answered 400" in line
        connection.close()

    def test_not_the_main_thread(
        self,
        process: _Process,
        emulator: RuntimeAPIEmulator,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG, "mangum_like")
        handlers: list[Mangum] = []
        thread = threading.Thread(target=lambda: handlers.append(Mangum(Recorder())))
        thread.start()
        thread.join(5)
        assert not process.signal_installed
        assert any("Not in the main thread" in m for m in records(caplog, logging.DEBUG))
        handlers[0].shutdown()


class TestSigterm:
    def test_not_installed_at_import(self) -> None:
        code = (
            "import signal, mangum_like; assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL"
        )
        env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9"}
        done = subprocess.run([sys.executable, "-c", code], env=env, timeout=30, check=False)
        assert done.returncode == 0

    def test_shutdown_once_then_the_previous_handler(
        self, process: _Process, emulator: RuntimeAPIEmulator, backend: str
    ) -> None:
        chained: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, frame: chained.append(signum))
        app = Recorder()
        handler = Mangum(app, backend=backend)
        invoke(handler)
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not chained and time.monotonic() < deadline:
            time.sleep(0.01)  # the handler runs in the main thread between bytecodes
        assert chained == [signal.SIGTERM]
        assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown"]
        handler.shutdown()  # a second trigger: nothing more runs
        process.terminate(signal.SIGTERM, None)
        assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown"]
        assert chained == [signal.SIGTERM, signal.SIGTERM]

    def test_in_flight_invocation_sees_the_disconnect_first(
        self,
        process: _Process,
        emulator: RuntimeAPIEmulator,
        backend: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        chained: list[int] = []
        app = SlowApp(5.0, listen=True)
        handler = Mangum(app, backend=backend)
        process.previous = lambda signum, frame: chained.append(signum)
        timer = threading.Timer(0.2, process.on_sigterm, (signal.SIGTERM, None))
        timer.start()
        result = invoke(handler)
        timer.join()
        assert result["statusCode"] == 504
        assert app.events == ["http.disconnect", "cancelled"]
        assert chained == [signal.SIGTERM]  # shutdown ran once the invocation returned
        [line] = records(caplog, logging.ERROR)
        assert "the execution environment is ending (SIGTERM)" in line
        assert handler.state == {}

    def test_during_the_lifespan_startup_of_a_first_invocation(
        self, process: _Process, emulator: RuntimeAPIEmulator
    ) -> None:
        # asyncio only: its loop runs in the main thread, under which the signal handler runs;
        # trio's loop has a thread of its own, and the main thread only waits for it.
        chained: list[int] = []
        events: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await receive()
                process.on_sigterm(signal.SIGTERM, None)  # as if it arrived right now
                await send({"type": "lifespan.startup.complete"})
                events.append((await receive())["type"])
                await send({"type": "lifespan.shutdown.complete"})
                return
            await Recorder()(scope, receive, send)

        handler = Mangum(app)
        process.previous = lambda signum, frame: chained.append(signum)
        assert invoke(handler)["statusCode"] == 200
        assert events == ["lifespan.shutdown"]
        assert chained == [signal.SIGTERM]

    def test_ignored_before(self, process: _Process) -> None:
        process.previous = signal.SIG_IGN
        process.terminate(signal.SIGTERM, None)  # returns: the signal stays ignored
        assert process.terminated

    def test_default_action_exits_143(
        self, process: _Process, monkeypatch: pytest.MonkeyPatch, backend: str
    ) -> None:
        exits: list[int] = []
        monkeypatch.setattr(os, "_exit", exits.append)
        monkeypatch.setattr(logging, "shutdown", lambda: None)
        app = Recorder()
        handler = Mangum(app, backend=backend)
        handler.startup()
        process.previous = signal.SIG_DFL
        process.on_sigterm(signal.SIGTERM, None)
        assert exits == [143]
        assert app.lifespan_events == ["lifespan.startup", "lifespan.shutdown"]


class TestSnapStart:
    @pytest.fixture(autouse=True)
    def snap_start(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
        import snapshot_restore_py

        monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
        hooks: list[Any] = snapshot_restore_py.get_after_restore()
        del hooks[:]
        yield hooks
        del hooks[:]

    def test_startup_waits_for_the_restore_hook(
        self, backend: str, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
    ) -> None:
        import snapshot_restore_py

        caplog.set_level(logging.DEBUG, "mangum_like")
        app = Recorder()
        handler = make_handler(app, backend=backend)
        handler.startup()  # at module level, during Init: before the snapshot
        assert app.lifespan_events == []
        assert any("deferred until after the snapshot" in m for m in records(caplog, 10))
        for func, args, kwargs in snapshot_restore_py.get_after_restore():
            func(*args, **kwargs)  # what the runtime does after the restore
        assert app.lifespan_events == ["lifespan.startup"]
        invoke(handler)
        assert app.lifespan_events == ["lifespan.startup"]

    def test_failed_startup_after_restore_is_retried_by_the_invocation(
        self, backend: str, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
    ) -> None:
        import snapshot_restore_py

        attempts: list[int] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await receive()
                attempts.append(1)
                if len(attempts) == 1:
                    await send({"type": "lifespan.startup.failed", "message": "not yet"})
                    return
                await send({"type": "lifespan.startup.complete"})
                await receive()
                return
            await Recorder()(scope, receive, send)

        handler = make_handler(app, backend=backend)
        for func, args, kwargs in snapshot_restore_py.get_after_restore():
            func(*args, **kwargs)  # logs, does not raise into the runtime
        assert any("not yet" in m for m in records(caplog, logging.ERROR))
        assert invoke(handler)["statusCode"] == 200
        assert len(attempts) == 2

    def test_without_the_hooks_the_first_invocation_starts(
        self, backend: str, make_handler: MakeHandler, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import sys

        monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # not installed
        app = Recorder()
        handler = make_handler(app, backend=backend)
        handler.startup()
        assert app.lifespan_events == []
        invoke(handler)
        assert app.lifespan_events == ["lifespan.startup"]


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _settle(threads: int, fds: int) -> tuple[int, int]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        gc.collect()
        if threading.active_count() <= threads and _fds() <= fds:
            break
        time.sleep(0.01)
    return threading.active_count(), _fds()


class TestDroppedHandlers:
    """Handlers dropped without shutdown(): nothing left behind, nothing said (-W error)."""

    @pytest.mark.parametrize("inside_loop", [False, True], ids=["plain", "inside-a-loop"])
    def test_nothing_left_behind(
        self, backend: str, inside_loop: bool, caplog: pytest.LogCaptureFixture
    ) -> None:
        gc.collect()
        threads, fds = threading.active_count(), _fds()

        def build_and_drop() -> None:
            app = Recorder()
            handler = Mangum(app, backend=backend)
            invoke(handler)
            assert app.lifespan_events == ["lifespan.startup"]

        for _ in range(3):
            if inside_loop:

                async def main() -> None:
                    build_and_drop()

                asyncio.run(main())
            else:
                build_and_drop()
        assert _settle(threads, fds) == (threads, fds)
        assert caplog.records == []  # no "Task was destroyed but it is pending!"

    def test_dropped_on_its_own_loop_thread(self, backend: str) -> None:
        # The collector may run the finaliser on the loop's own thread: it cannot join itself.
        gc.collect()
        threads, fds = threading.active_count(), _fds()
        handler = Mangum(Recorder(), backend=backend)

        async def main(handler: Mangum) -> None:
            invoke(handler)

        asyncio.run(main(handler))  # asyncio: the loop now lives in its own thread, as trio's does
        environment = handler._environment
        runtime = environment.runtime
        thread = runtime.thread  # type: ignore[attr-defined]
        assert thread is not None

        async def release_here(environment: Environment) -> None:
            environment.release()

        runtime.run(release_here, environment)
        thread.join(5)
        assert not thread.is_alive()
        del handler
        assert _settle(threads, fds) == (threads, fds)

    def test_finaliser_failure_is_swallowed(
        self,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        caplog.set_level(logging.DEBUG, "mangum_like")
        handler = make_handler(Recorder())
        invoke(handler)

        def broken(self: AsyncioRuntime) -> None:
            raise RuntimeError("cannot close")

        with monkeypatch.context() as patch:
            patch.setattr(AsyncioRuntime, "close_from_anywhere", broken)
            handler._environment.release()  # what the finaliser runs: must not raise
        assert any("Releasing a dropped handler" in m for m in records(caplog, logging.DEBUG))
