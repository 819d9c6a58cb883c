"""One HTTP request through the application: receive/send, the response, and faults.

ASGI HTTP spec: the request body arrives as one ``http.request`` message (Lambda hands over the
whole body at once); ``http.disconnect`` follows once the response is complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import monotonic as _monotonic
from typing import TYPE_CHECKING, Any

from ._exceptions import UnexpectedMessage

if TYPE_CHECKING:
    from ._types import Headers, Message, ResponseStream, Scope

logger = logging.getLogger("mangum_like")

_PLAIN = [(b"content-type", b"text/plain; charset=utf-8")]
_DISCONNECT = {"type": "http.disconnect"}

# Cycle states
_REQUEST, _STREAMING, _COMPLETE = 0, 1, 2


class HTTPCycle:
    """The receive/send pair of one request; collects the response as the app sends it.

    All that is per invocation lives here (the response, the deadline guard's handles), so that
    invocations in flight together never share state.
    """

    REQUEST, STREAMING, COMPLETE = _REQUEST, _STREAMING, _COMPLETE
    deadline: float  # in the loop's time; set only when the invocation has one

    __slots__ = (
        "body",
        "chunks",
        "completed",
        "context",
        "deadline",
        "done",
        "expired",
        "headers",
        "state",
        "status",
        "task",
        "timer",
    )

    def __init__(self, body: bytes) -> None:
        self.body: bytes | None = body
        self.state = _REQUEST
        self.status = 500
        self.headers: Headers = []
        self.chunks: list[bytes] = []
        self.done: Any = None
        self.completed = 0.0  # when the response was complete (time.monotonic())
        # The deadline guard's: whether the request was cut short, the task running the app
        # (the runtime's handle, to cancel it), the timer armed for the deadline. The deadline
        # itself (``deadline``, in the loop's time) is set only when the invocation has one.
        self.expired = False
        self.task: Any = None
        self.timer: Any = None
        # The app's context when it raised (set then only): what is logged of its exception is
        # logged there, where the app's error reporting (Sentry's deduplication) can see it.
        self.context: Any = None

    async def receive(self) -> Message:
        body = self.body
        if body is not None:
            self.body = None
            return {"type": "http.request", "body": body, "more_body": False}
        if self.state != _COMPLETE and not self.expired:
            # The app listens for a disconnect while it responds (Starlette's streaming
            # responses do): the client stays until the response is complete, or until the
            # deadline guard gives up on the request.
            if self.done is None:
                self.done = _new_event()
            await self.done.wait()
        return dict(_DISCONNECT)

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        state = self.state
        if kind == "http.response.body" and state == _STREAMING:
            chunk = message.get("body", b"")
            if chunk:
                self.chunks.append(bytes(chunk))
            if not message.get("more_body", False):
                self.state = _COMPLETE
                self.completed = _monotonic()
                if self.done is not None:
                    self.done.set()
        elif kind == "http.response.start" and state == _REQUEST:
            self.status = int(message["status"])
            self.headers = list(message.get("headers", ()))
            self.state = _STREAMING
        elif state == _COMPLETE:
            raise UnexpectedMessage(f"the app sent {kind!r} after the response was complete")
        else:
            expected = "http.response.start" if state == _REQUEST else "http.response.body"
            raise UnexpectedMessage(f"the app sent {kind!r} where {expected!r} was expected")

    def disconnect(self) -> None:
        """The deadline is near: the app's ``receive()`` answers ``http.disconnect`` from now on.

        Runs on the loop's thread.
        """
        self.expired = True
        if self.done is not None:
            self.done.set()

    @property
    def complete(self) -> bool:
        return self.state == _COMPLETE


def cut_after_response(scope: Scope, cycle: HTTPCycle, ending: bool = False) -> None:
    """Log that the deadline guard (or, ``ending``, SIGTERM) cut short work the app did after
    its complete response."""
    logger.warning(
        "%s %s: %s cut short what the app still did %.1f s after its response was complete "
        "(BackgroundTasks, code after the last send); the response had gone out",
        scope.get("method"),
        scope.get("path"),
        "the end of the execution environment (SIGTERM)" if ending else "the deadline guard",
        _monotonic() - cycle.completed,
    )


def _new_event() -> Any:
    import anyio  # rarely needed: imported on first use, not with mangum_like

    return anyio.Event()


def error_response(status: int, text: str) -> tuple[int, Headers, bytes]:
    return status, list(_PLAIN), text.encode("utf-8")


class EarlyHTTPCycle(HTTPCycle):
    """A buffered cycle that hands its response over the moment it is complete.

    ``complete(cycle)`` runs once, inside the app's last ``send``: the result goes out while the
    app goes on with whatever it does after answering (BackgroundTasks).
    """

    __slots__ = ("complete_hook",)

    def __init__(self, body: bytes, complete: Callable[[HTTPCycle], None]) -> None:
        super().__init__(body)
        self.complete_hook: Callable[[HTTPCycle], None] | None = complete

    async def send(self, message: Message) -> None:
        await HTTPCycle.send(self, message)
        hook = self.complete_hook
        if hook is not None and self.state == _COMPLETE:
            self.complete_hook = None
            hook(self)


class StreamingHTTPCycle(HTTPCycle):
    """The receive/send pair of one request whose response is written out as the app sends it.

    Used for Lambda response streaming: ``http.response.start`` writes the source's prelude, and
    every ``http.response.body`` chunk goes to the stream at once, so nothing of the body is
    held here (memory stays flat whatever the body's size). When a write fails the client is
    gone: later messages are discarded (ASGI HTTP spec 2.3) and ``receive()`` reports
    ``http.disconnect``, so the app stops producing.
    """

    __slots__ = ("head", "head_only", "stream", "write_failed")

    def __init__(
        self,
        body: bytes,
        stream: ResponseStream,
        head: Callable[[int, Headers], bytes],
        head_only: bool = False,
    ) -> None:
        super().__init__(body)
        self.stream = stream
        self.head = head
        self.head_only = head_only  # HEAD: the prelude goes out, the body never does
        self.write_failed = False

    @property
    def started(self) -> bool:
        """Whether the prelude has gone out: from then on a failure can only end the stream."""
        return self.state != _REQUEST

    async def receive(self) -> Message:
        body = self.body
        if body is not None:
            self.body = None
            return {"type": "http.request", "body": body, "more_body": False}
        if self.state != _COMPLETE and not self.expired and not self.write_failed:
            if self.done is None:
                self.done = _new_event()
            await self.done.wait()
        return dict(_DISCONNECT)

    async def send(self, message: Message) -> None:
        if self.write_failed:
            return
        kind = message.get("type")
        state = self.state
        if kind == "http.response.body" and state == _STREAMING:
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            try:
                if chunk and not self.head_only:
                    self.stream.write(chunk)
                if not more:
                    self.state = _COMPLETE
                    self.completed = _monotonic()
                    self.stream.end()
            except OSError as exc:
                self._lost(exc)
                return
            if not more and self.done is not None:
                self.done.set()
        elif kind == "http.response.start" and state == _REQUEST:
            status = self.status = int(message["status"])
            prelude = self.head(status, list(message.get("headers", ())))
            self.state = _STREAMING
            try:
                self.stream.start(prelude)
            except OSError as exc:
                self._lost(exc)
        elif state == _COMPLETE:
            raise UnexpectedMessage(f"the app sent {kind!r} after the response was complete")
        else:
            expected = "http.response.start" if state == _REQUEST else "http.response.body"
            raise UnexpectedMessage(f"the app sent {kind!r} where {expected!r} was expected")

    def client_gone(self) -> None:
        """The client went away before the response was complete (the stream saw it go): from
        now on ``receive()`` reports ``http.disconnect`` and the app's messages are discarded.

        Runs on the loop's thread.
        """
        if self.state == _COMPLETE or self.write_failed:
            return
        logger.info("The client went away; the app sees a disconnect")
        self.write_failed = True
        if self.done is not None:
            self.done.set()

    def _lost(self, exc: OSError) -> None:
        logger.warning("The response stream was lost (%s); the app sees a disconnect", exc)
        self.write_failed = True
        if self.done is not None:
            self.done.set()
