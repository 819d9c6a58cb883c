"""A Starlette app behind wrappers of the user's own around one module-level Mangum, the
simplest ways Lambda users wrap a handler:

- ``handler``: a plain function, ``def handler(event, context): return inner(event, context)``;
- ``decorated``: a ``functools.wraps`` decorator around the Mangum that prints
  ``WRAPPER CALLED <request id>`` when it is called and ``WRAPPER RETURNED <request id>`` when
  it returns, and adds the header ``x-wrapped-by: decorator <request id>`` to the result.

Routes:

- ``/sleep?ms=N``: awaits N ms (``asyncio.sleep``), answers ``slept N``;
- ``/bg?marker=X``: answers ``answered X`` at once, then a ``BackgroundTask`` sleeps
  ``BACKGROUND_SECONDS`` and prints ``BACKGROUND DONE X``;
- ``/ping``: answers ``pong``.

The lines go to stdout, flushed, so that they are in the output before the runtime does
anything else.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mangum_like import Mangum

BACKGROUND_SECONDS = 1.0


async def sleep(request: Request) -> PlainTextResponse:
    ms = int(request.query_params.get("ms", "200"))
    await asyncio.sleep(ms / 1000)
    return PlainTextResponse(f"slept {ms}")


async def work(marker: str) -> None:
    await asyncio.sleep(BACKGROUND_SECONDS)
    print(f"BACKGROUND DONE {marker}", flush=True)


async def background(request: Request) -> PlainTextResponse:
    marker = request.query_params["marker"]
    return PlainTextResponse(f"answered {marker}", background=BackgroundTask(work, marker))


async def ping(request: Request) -> PlainTextResponse:
    return PlainTextResponse("pong")


app = Starlette(
    routes=[Route("/sleep", sleep), Route("/bg", background), Route("/ping", ping)],
)

inner = Mangum(app)


def handler(event: Any, context: Any) -> Any:
    return inner(event, context)


def add_header(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    @functools.wraps(fn)
    def wrapper(event: Any, context: Any) -> Any:
        request_id = context.aws_request_id
        print(f"WRAPPER CALLED {request_id}", flush=True)
        result = dict(fn(event, context))
        result["headers"] = {
            **(result.get("headers") or {}),
            "x-wrapped-by": f"decorator {request_id}",
        }
        print(f"WRAPPER RETURNED {request_id}", flush=True)
        return result

    return wrapper


decorated = add_header(inner)
