"""A Starlette app for many invocations in flight at once (Lambda Managed Instances), run by name
(``tests.lambda_apps.concurrent.handler``) by our runtime loop and by the official client, each
in a subprocess.

- ``/sleep?ms=N``: awaits N ms of "I/O", then answers ``slept N`` with the process id and how
  many requests were in flight in this process at its peak;
- ``/stream?n=N&ms=M``: N chunks ``chunk i``, M ms apart;
- ``/fail``: raises;
- ``/log?marker=X``: logs ``handling X`` at WARNING (seen whatever the log level), awaits 50 ms,
  logs ``done X``, answers ``X``.

The lifespan prints ``LIFESPAN STARTUP <pid>`` and ``LIFESPAN SHUTDOWN <pid>``, flushed, so that
the tests count lifespans per process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from mangum_like import Mangum

logger = logging.getLogger("tests.concurrent")
_in_flight = 0
_peak = 0


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    print(f"LIFESPAN STARTUP {os.getpid()}", flush=True)
    yield
    print(f"LIFESPAN SHUTDOWN {os.getpid()}", flush=True)


async def sleep(request: Request) -> JSONResponse:
    global _in_flight, _peak
    ms = int(request.query_params.get("ms", "200"))
    _in_flight += 1
    _peak = max(_peak, _in_flight)
    try:
        await anyio.sleep(ms / 1000)
    finally:
        _in_flight -= 1
    return JSONResponse({"slept": ms, "pid": os.getpid(), "peak": _peak})


async def stream(request: Request) -> StreamingResponse:
    n = int(request.query_params.get("n", "3"))
    ms = int(request.query_params.get("ms", "50"))

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(n):
            if index:
                await anyio.sleep(ms / 1000)
            yield f"chunk {index}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def fail(request: Request) -> PlainTextResponse:
    raise RuntimeError("the /fail route fails")


async def log(request: Request) -> PlainTextResponse:
    marker = request.query_params["marker"]
    logger.warning("handling %s", marker)
    await anyio.sleep(0.05)
    logger.warning("done %s", marker)
    return PlainTextResponse(marker)


app = Starlette(
    routes=[
        Route("/sleep", sleep),
        Route("/stream", stream),
        Route("/fail", fail),
        Route("/log", log),
    ],
    lifespan=lifespan,
)

handler = Mangum(app)
trio_handler = Mangum(app, backend="trio")


def plain_handler(event: object, context: object) -> dict[str, object]:
    """A synchronous handler(event, context) that blocks for 200 ms."""
    import threading
    import time

    time.sleep(0.2)
    return {"thread": threading.current_thread().name}


def trace(event: object, context: object) -> dict[str, object]:
    """The invocation's trace id as its context has it, and what _X_AMZN_TRACE_ID says."""
    import time

    time.sleep(0.1)  # two invocations in flight at once
    return {
        "xray_trace_id": getattr(context, "xray_trace_id", None),
        "env": os.environ.get("_X_AMZN_TRACE_ID"),
    }


def exit_on_request(event: dict[str, object], context: object) -> dict[str, object]:
    """Ends its process at once (status 3) when the event asks for it."""
    if event.get("exit"):
        os._exit(3)
    return {"ok": True}
