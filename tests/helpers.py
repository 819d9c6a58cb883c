"""Shared test helpers: real events, a Lambda context, and small ASGI apps."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from mangum_like._types import Message, Receive, Scope, Send

EVENTS = Path(__file__).parent / "fixtures" / "events"
HTTP_KINDS = ("apigw-rest-v1", "apigw-http-v2", "function-url", "alb-single", "alb-multi")


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """The fixture event ``name`` ("powertools/apigw-http-v2/x.json"), with top-level changes.

    A change whose value is ``...`` removes the key.
    """
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is ...:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def event_names(*kinds: str) -> list[str]:
    """Every fixture event of the given kinds, as names relative to the fixture folder."""
    return sorted(
        path.relative_to(EVENTS).as_posix()
        for kind in kinds
        for path in EVENTS.glob(f"*/{kind}/*.json")
    )


def clone(event: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(event)


class Context:
    """A Lambda context object with the attributes Lambda's Python runtime provides."""

    function_name = "mangum-like-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mangum-like-test"
    memory_limit_in_mb = 128
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/mangum-like-test"
    log_stream_name = "2026/11/20/[$LATEST]abcdef"

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Recorder:
    """An ASGI app that records every request scope and body and answers with fixed parts."""

    def __init__(
        self,
        *,
        status: int = 200,
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"ok",
        lifespan_state: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers if headers is not None else [(b"content-type", b"text/plain")]
        self.body = body
        self.lifespan_state = lifespan_state
        self.scopes: list[Scope] = []
        self.bodies: list[bytes] = []
        self.lifespan_events: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.lifespan_events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    if self.lifespan_state:
                        scope["state"].update(self.lifespan_state)
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.scopes.append(scope)
        request: Message = await receive()
        self.bodies.append(request["body"])
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})

    @property
    def scope(self) -> Scope:
        return self.scopes[-1]
