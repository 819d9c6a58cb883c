"""The ASGI lifespan protocol: one startup per environment, one shutdown, and its ``state``.

ASGI lifespan spec: the app receives ``lifespan.startup`` and answers ``.complete`` or
``.failed``; later it receives ``lifespan.shutdown`` and answers likewise. The lifespan task runs
on the environment's loop for as long as the environment lives, so whatever the app starts in
it (background tasks, pools) keeps running during every later invocation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._exceptions import UnexpectedMessage

if TYPE_CHECKING:
    from ._types import ASGIApp, Message, Runtime

# Startup outcomes
COMPLETE = "complete"
FAILED = "failed"
UNSUPPORTED = "unsupported"


class LifespanCycle:
    """One run of the app's lifespan, from ``lifespan.startup`` to ``lifespan.shutdown``."""

    def __init__(self, app: ASGIApp, state: dict[str, Any], runtime: Runtime) -> None:
        self.app = app
        self.state = state
        self.runtime = runtime
        # The loop's own events (asyncio's or trio's): the lifespan stays off anyio, whose
        # backend import would add some 15 ms to every cold start.
        self.started = runtime.new_event()
        self.stopped = runtime.new_event()
        self.shutdown_requested = runtime.new_event()
        self.outcome: str | None = None
        self.shutdown_outcome: str | None = None
        self.message = ""
        self.error: BaseException | None = None
        self.received_startup = False
        self.finished = False

    async def main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self.receive, self.send)
        except Exception as exc:
            self.error = exc
            if self.outcome is None:
                # An app that fails before it even asked for the startup event does not
                # speak lifespan (Django raises at once); one that asked, failed its startup.
                self.outcome = FAILED if self.received_startup else UNSUPPORTED
            elif self.shutdown_requested.is_set() and self.shutdown_outcome is None:
                self.shutdown_outcome = FAILED
        else:
            if self.outcome is None:
                self.outcome = FAILED if self.received_startup else UNSUPPORTED
                self.message = "the app returned before completing lifespan startup"
        finally:
            self.finished = True
            self.started.set()
            self.stopped.set()

    async def receive(self) -> Message:
        if not self.received_startup:
            self.received_startup = True
            return {"type": "lifespan.startup"}
        await self.shutdown_requested.wait()
        return {"type": "lifespan.shutdown"}

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if self.outcome is None and kind == "lifespan.startup.complete":
            self.outcome = COMPLETE
            self.started.set()
        elif self.outcome is None and kind == "lifespan.startup.failed":
            self.outcome = FAILED
            self.message = str(message.get("message", ""))
            self.started.set()
        elif self.shutdown_requested.is_set() and kind == "lifespan.shutdown.complete":
            self.shutdown_outcome = COMPLETE
            self.stopped.set()
        elif self.shutdown_requested.is_set() and kind == "lifespan.shutdown.failed":
            self.shutdown_outcome = FAILED
            self.message = str(message.get("message", ""))
            self.stopped.set()
        else:
            raise UnexpectedMessage(f"unexpected lifespan message {kind!r}")

    async def wait_started(self, seconds: float | None) -> bool:
        """Wait for the startup outcome; whether it came within ``seconds``."""
        return await self.runtime.wait(self.started, seconds)

    async def stop(self, seconds: float | None) -> bool:
        """Ask the app to shut down; whether it finished within ``seconds``."""
        self.shutdown_requested.set()
        return await self.runtime.wait(self.stopped, seconds)
