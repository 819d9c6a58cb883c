"""Every way a lifespan can fail, in ``auto`` and ``on`` modes, on asyncio and trio: the outcome
DESIGN.md section 2 specifies, and the log line that says what happened.

- A failed startup (raised, ``lifespan.startup.failed``, over ``startup_timeout``, an unexpected
  message) fails the invocation with ``LifespanFailure``, serves nothing, and the next
  invocation tries again, in both modes.
- A failed shutdown (raised, ``lifespan.shutdown.failed``, over ``shutdown_timeout``) is logged;
  shutdown itself never raises, and the loop is closed all the same.
- An app without lifespan support is served in ``auto`` (one INFO line) and refused in ``on``.
"""

from __future__ import annotations

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


class FailingLifespan:
    """Fails its lifespan in the way named by ``failure``, the first time only."""

    def __init__(self, failure: str) -> None:
        self.failure = failure
        self.attempts = 0
        self.recorder = Recorder()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.recorder(scope, receive, send)
            return
        if self.failure == "unsupported":  # every time, as Django does
            raise ValueError("Django can only handle ASGI/HTTP connections, not lifespan.")
        failure = self.failure if self.attempts == 0 else "none"
        self.attempts += 1
        await receive()
        if failure == "startup-raises":
            raise RuntimeError("database unreachable")
        if failure == "startup-failed":
            await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
            return
        if failure == "startup-timeout":
            await anyio.sleep(30)
        if failure == "startup-unexpected":
            await send({"type": "http.response.start", "status": 200})
        await send({"type": "lifespan.startup.complete"})
        await receive()
        if failure == "shutdown-raises":
            raise RuntimeError("pool did not close")
        if failure == "shutdown-failed":
            await send({"type": "lifespan.shutdown.failed", "message": "pool did not close"})
            return
        if failure == "shutdown-timeout":
            await anyio.sleep(30)
        await send({"type": "lifespan.shutdown.complete"})


def invoke(handler: Mangum) -> dict[str, Any]:
    result: dict[str, Any] = handler(load_event(EVENT), Context())
    return result


def logged(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "mangum_like"]


STARTUP_FAILURES = {
    # failure: (the exception's message, the log line, the cause chained)
    "startup-raises": (
        "lifespan startup failed: RuntimeError('database unreachable')",
        "Lifespan startup failed: RuntimeError('database unreachable'); the next invocation "
        "tries again",
        RuntimeError,
    ),
    "startup-failed": (
        "lifespan startup failed: database unreachable",
        "Lifespan startup failed: database unreachable; the next invocation tries again",
        None,
    ),
    "startup-timeout": (
        "lifespan startup did not complete within 0.2 s (startup_timeout)",
        "Lifespan startup did not complete within 0.2 s (startup_timeout); cancelled it",
        None,
    ),
    "startup-unexpected": (
        'lifespan startup failed: UnexpectedMessage("unexpected lifespan message '
        "'http.response.start'\")",
        'Lifespan startup failed: UnexpectedMessage("unexpected lifespan message '
        "'http.response.start'\"); the next invocation tries again",
        UnexpectedMessage,
    ),
}

SHUTDOWN_FAILURES = {
    "shutdown-raises": (
        logging.ERROR,
        "Lifespan shutdown failed: RuntimeError('pool did not close')",
    ),
    "shutdown-failed": (logging.ERROR, "Lifespan shutdown failed: pool did not close"),
    "shutdown-timeout": (
        logging.WARNING,
        "Lifespan shutdown did not complete within 0.2 s (shutdown_timeout); cancelled it",
    ),
}


@pytest.mark.parametrize("mode", ["auto", "on"])
class TestFailureMatrix:
    @pytest.mark.parametrize("failure", list(STARTUP_FAILURES))
    def test_startup(
        self,
        backend: str,
        mode: str,
        failure: str,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        message, line, cause = STARTUP_FAILURES[failure]
        app = FailingLifespan(failure)
        handler = make_handler(app, lifespan=mode, backend=backend, startup_timeout=0.2)

        with pytest.raises(LifespanFailure) as caught:
            invoke(handler)

        assert str(caught.value).startswith(message)
        assert not isinstance(caught.value, LifespanUnsupported)
        if cause is None:
            assert caught.value.__cause__ is None
        else:
            assert isinstance(caught.value.__cause__, cause)
        assert logged(caplog) == [(logging.ERROR, line)]
        assert app.recorder.scopes == []  # nothing served on a half-started app

        # The next invocation tries startup again, and serves.
        assert invoke(handler)["statusCode"] == 200
        assert app.attempts == 2
        assert len(app.recorder.scopes) == 1

    @pytest.mark.parametrize("failure", list(SHUTDOWN_FAILURES))
    def test_shutdown(
        self,
        backend: str,
        mode: str,
        failure: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        level, line = SHUTDOWN_FAILURES[failure]
        app = FailingLifespan(failure)
        handler = Mangum(app, lifespan=mode, backend=backend, shutdown_timeout=0.2)
        assert invoke(handler)["statusCode"] == 200

        started = time.monotonic()
        handler.shutdown()  # never raises

        assert time.monotonic() - started < 1.0  # bounded by shutdown_timeout
        assert logged(caplog) == [(level, line)]
        assert handler.state == {}
        # The environment can start again afterwards.
        app.failure = "none"
        assert invoke(handler)["statusCode"] == 200
        handler.shutdown()

    def test_unsupported(
        self,
        backend: str,
        mode: str,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.INFO, "mangum_like")
        app = FailingLifespan("unsupported")
        handler = make_handler(app, lifespan=mode, backend=backend)

        if mode == "auto":
            assert invoke(handler)["statusCode"] == 200
            assert invoke(handler)["statusCode"] == 200
            [(level, line)] = logged(caplog)  # once, not per invocation
            assert level == logging.INFO
            assert line.startswith(
                "The app does not support the ASGI lifespan protocol (ValueError("
            )
            return
        with pytest.raises(LifespanUnsupported, match="does not support the ASGI lifespan"):
            invoke(handler)
        [(level, line)] = logged(caplog)
        assert level == logging.ERROR
        assert line.startswith(
            "lifespan='on' but the app does not support the ASGI lifespan protocol (ValueError("
        )
        assert app.recorder.scopes == []
