"""One HTTP request through the application: receive/send, the response, and faults.

ASGI HTTP spec: the request body arrives as one ``http.request`` message (Lambda hands over the
whole body at once); ``http.disconnect`` follows once the response is complete.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._exceptions import UnexpectedMessage

if TYPE_CHECKING:
    from ._types import Headers, Message, Scope

logger = logging.getLogger("mangum_like")

_PLAIN = [(b"content-type", b"text/plain; charset=utf-8")]
_DISCONNECT = {"type": "http.disconnect"}

# Cycle states
_REQUEST, _STREAMING, _COMPLETE = 0, 1, 2


class HTTPCycle:
    """The receive/send pair of one request; collects the response as the app sends it."""

    __slots__ = ("body", "chunks", "done", "expired", "headers", "state", "status", "task", "timer")

    def __init__(self, body: bytes) -> None:
        self.body: bytes | None = body
        self.state = _REQUEST
        self.status = 500
        self.headers: Headers = []
        self.chunks: list[bytes] = []
        self.done: Any = None
        # The deadline guard's: whether the request was cut short, the task running the app
        # (the runtime's handle, to cancel it), the timer armed for the deadline.
        self.expired = False
        self.task: Any = None
        self.timer: Any = None

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

    def outcome(self, scope: Scope, raised: bool) -> tuple[int, Headers, bytes]:
        """The response to hand back once the app has returned or (in ``except``) raised."""
        if self.state == _COMPLETE:
            if raised:
                logger.exception(
                    "The app raised after completing the response to %s %s; the response stands",
                    scope.get("method"),
                    scope.get("path"),
                )
            chunks = self.chunks
            return self.status, self.headers, chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if raised:
            logger.exception(
                "The app raised before completing the response to %s %s; answering 500",
                scope.get("method"),
                scope.get("path"),
            )
        else:
            logger.error(
                "The app returned without completing a response to %s %s; answering 500",
                scope.get("method"),
                scope.get("path"),
            )
        return error_response(500, "Internal Server Error")


def _new_event() -> Any:
    import anyio  # rarely needed: imported on first use, not with mangum_like

    return anyio.Event()


def error_response(status: int, text: str) -> tuple[int, Headers, bytes]:
    return status, list(_PLAIN), text.encode("utf-8")
