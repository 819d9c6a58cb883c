"""Handlers the runtime benchmark runs under both runtimes (``benchmarks/runtime_bench.py``).

Loaded by name in the runtime processes (``runtime_apps.handler``), with this folder on
``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mangum_like import Mangum
from mangum_like._types import Receive, Scope, Send

JSON = [(b"content-type", b"application/json")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/sse``: 5 events 50 ms apart; anything else: a small JSON answer."""
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/sse":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for index in range(5):
            if index:
                await asyncio.sleep(0.05)
            body = b"data: token %d\n\n" % index
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": JSON})
    await send({"type": "http.response.body", "body": b'{"hello":"world"}'})


handler = Mangum(app, lifespan="off")


def plain(event: Any, context: Any) -> Any:
    """A plain Lambda handler: no ASGI, the runtime's own cost alone."""
    return {"statusCode": 200, "body": "ok", "request": context.aws_request_id}
