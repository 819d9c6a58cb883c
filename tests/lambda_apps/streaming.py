"""ASGI apps for the runtime's end-to-end tests: ``python -m mangum_like.runtime`` loads them by
name (``tests.lambda_apps.streaming.<name>``) in a subprocess, against the Runtime API emulator.

The request path picks the behaviour, so that one runtime process serves every case in turn:

- ``/sse?events=N&interval=S``: a Server-Sent Events stream of N events, S seconds apart;
- ``/bytes?size=N&chunk=C``: N deterministic binary bytes in chunks of C;
- ``/cookies``: two Set-Cookie headers, a repeated header and a custom status;
- ``/fail-before``: raises before ``http.response.start``;
- ``/fail-after``: raises after the prelude and one chunk;
- ``/incomplete``: returns after the prelude without finishing the body;
- ``/disconnect``: streams until ``receive()`` reports the client gone, and records what it got;
- ``/state``: the lifespan's startup count, the served count and what ``/disconnect`` saw;
- ``/slow?seconds=S``: sleeps S seconds before answering (the deadline guard);
- anything else: a small JSON echo of the request.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import anyio

from mangum_like import Mangum
from mangum_like._types import Receive, Scope, Send

STARTUPS = {"count": 0}
SERVED = {"count": 0}
SEEN = {"disconnect": ""}  # what receive() reported to /disconnect; /state tells


_BLOCK = bytes(range(251)) * 4  # 1,004 bytes: a prime period, so no chunk size lines up


def pattern(size: int, offset: int = 0) -> bytes:
    """``size`` bytes of a pattern that is not all alike, from ``offset``: a lost, doubled or
    reordered chunk shows. Made chunk by chunk, so the app never holds the whole body."""
    start = offset % len(_BLOCK)
    repeats = (start + size) // len(_BLOCK) + 1
    return (_BLOCK * repeats)[start : start + size]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    path = scope["path"]
    query = {key: values[-1] for key, values in parse_qs(scope["query_string"].decode()).items()}
    request = await receive()
    SERVED["count"] += 1
    if path == "/sse":
        await sse(send, int(query.get("events", "5")), float(query.get("interval", "0.1")))
    elif path == "/bytes":
        await binary(send, int(query["size"]), int(query.get("chunk", "65536")))
    elif path == "/cookies":
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"set-cookie", b"session=abc; Path=/; HttpOnly"),
                    (b"set-cookie", b"theme=dark; Path=/"),
                    (b"x-multi", b"one"),
                    (b"x-multi", b"two"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"cookies set"})
    elif path == "/fail-before":
        raise RuntimeError("failed before the response started")
    elif path == "/fail-after":
        await start_text(send)
        await send({"type": "http.response.body", "body": b"partial ", "more_body": True})
        raise RuntimeError("failed after the prelude")
    elif path == "/incomplete":
        await start_text(send)
        await send({"type": "http.response.body", "body": b"partial ", "more_body": True})
    elif path == "/disconnect":
        await until_disconnect(receive, send)
    elif path == "/state":
        await send_json(
            send,
            {
                "startups": STARTUPS["count"],
                "served": SERVED["count"],
                "disconnect": SEEN["disconnect"],
            },
        )
    elif path == "/slow":
        await anyio.sleep(float(query.get("seconds", "5")))
        await send_json(send, {"slept": True})
    else:
        await send_json(
            send,
            {
                "method": scope["method"],
                "path": path,
                "query": scope["query_string"].decode(),
                "body": request.get("body", b"").decode(errors="replace"),
            },
        )


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            STARTUPS["count"] += 1
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def start_text(send: Send, content_type: bytes = b"text/plain; charset=utf-8") -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]}
    )


async def send_json(send: Send, document: Any) -> None:
    body = json.dumps(document).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def sse(send: Send, events: int, interval: float) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
        }
    )
    for index in range(events):
        if index:
            await anyio.sleep(interval)
        event = f"id: {index}\nevent: token\ndata: token {index}\n\n".encode()
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def binary(send: Send, size: int, chunk: int) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(size).encode()),
            ],
        }
    )
    for offset in range(0, size, chunk):
        piece = pattern(min(chunk, size - offset), offset)
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def until_disconnect(receive: Receive, send: Send) -> None:
    await start_text(send)
    seen = "nothing"
    with anyio.move_on_after(5):
        async with anyio.create_task_group() as group:

            async def listen() -> None:
                nonlocal seen
                message = await receive()
                seen = message["type"]
                group.cancel_scope.cancel()

            group.start_soon(listen)
            for _ in range(500):
                await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
                await anyio.sleep(0.01)
    SEEN["disconnect"] = seen


handler = Mangum(app)
trio_handler = Mangum(app, backend="trio")
