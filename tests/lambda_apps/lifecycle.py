"""A Starlette app whose lifespan and requests report themselves on stdout, run by the
end-to-end tests under awslambdaric. Environment variables choose its variant:

- ``LIFECYCLE_BACKEND``: ``asyncio`` (default) or ``trio``;
- ``LIFECYCLE_LIFESPAN``: the ``lifespan`` option (``auto`` by default);
- ``LIFECYCLE_FAILED_STARTUPS``: how many lifespan startups fail before one succeeds;
- ``LIFECYCLE_INIT_STARTUP``: ``1`` to start the lifespan at module level, during Init;
- ``LIFECYCLE_TIMEOUT_MARGIN``: the ``timeout_margin`` option.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mangum_like import Mangum

_failed_startups = int(os.environ.get("LIFECYCLE_FAILED_STARTUPS", "0"))
_attempts = [0]


def report(line: str) -> None:
    print(f"LIFECYCLE {line}", file=sys.stdout, flush=True)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    _attempts[0] += 1
    if _attempts[0] <= _failed_startups:
        report(f"startup failed (attempt {_attempts[0]})")
        raise RuntimeError(f"database unreachable (attempt {_attempts[0]})")
    report("startup")
    try:
        yield {"served": [0], "started_at": time.time()}
    finally:
        report("shutdown")


async def count(request: Request) -> JSONResponse:
    served: list[int] = request.state.served
    served[0] += 1
    return JSONResponse({"served": served[0], "started_at": request.state.started_at})


async def fail(request: Request) -> JSONResponse:
    raise ValueError("the app failed")


async def slow(request: Request) -> JSONResponse:
    # Listens for the disconnect while it works, as a streaming response would.
    seconds = float(request.query_params.get("seconds", "5"))
    try:
        with anyio.move_on_after(seconds):
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    report("slow saw http.disconnect")
                    break
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        report("slow cancelled")
        raise
    return JSONResponse({"slept": seconds})


app = Starlette(
    routes=[Route("/count", count), Route("/fail", fail), Route("/slow", slow)],
    lifespan=lifespan,
)

_margin = os.environ.get("LIFECYCLE_TIMEOUT_MARGIN")
handler = Mangum(
    app,
    lifespan=os.environ.get("LIFECYCLE_LIFESPAN", "auto"),
    backend=os.environ.get("LIFECYCLE_BACKEND", "asyncio"),
    timeout_margin=float(_margin) if _margin else 0.5,
)
if os.environ.get("LIFECYCLE_INIT_STARTUP") == "1":
    handler.startup()
