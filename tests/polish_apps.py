"""Apps for the CLI's newcomer tests: a slow route, a lifespan that logs, one that fails."""

from __future__ import annotations

import asyncio
import logging
import time

from mangum_like import Mangum
from mangum_like._types import Receive, Scope, Send

log = logging.getLogger("polish_apps")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Logs at INFO in its lifespan; ``/slow`` takes 20 s, ``/blocking`` blocks the loop for
    0.8 s, ``/waiting`` awaits 0.8 s; anything else answers at once."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                log.info("the pool is connected")
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/slow":
        await asyncio.sleep(20)
    elif scope["path"] == "/blocking":
        time.sleep(0.8)  # noqa: ASYNC251 (on purpose: a synchronous call stops the loop)
    elif scope["path"] == "/waiting":
        await asyncio.sleep(0.8)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"done"})


async def failing(scope: Scope, receive: Receive, send: Send) -> None:
    """A lifespan startup that raises, as an app whose database is unreachable does."""
    if scope["type"] == "lifespan":
        await receive()
        raise RuntimeError("cannot reach the database")


handler = Mangum(app)
