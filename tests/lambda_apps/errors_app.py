"""A Starlette app whose routes fail in each way ``lambda_errors`` tells apart, run by name
(``tests.lambda_apps.errors_app.handler``) under awslambdaric and under our runtime loop, in a
subprocess (tests/test_lambda_errors.py). ``handler = Mangum(app)`` leaves ``lambda_errors`` at
``None``: the ``MANGUM_LIKE_LAMBDA_ERRORS`` environment variable decides.

Its lifespan puts ``{"token": TOKEN, "served": [0]}`` in the state. Routes:

- ``/ok``: answers ``ok <token> <served>``, counting the requests it served;
- ``/boom``: raises ``ZeroDivisionError`` (Starlette's error middleware sends its 500, then
  re-raises);
- ``/late-boom``: sends a complete 500 response of its own, awaits ``LATE_SECONDS``, then raises
  ``RuntimeError("late failure")``;
- ``/unavailable``: answers 503, without raising;
- ``/bg``: answers ``answered`` at once, then a ``BackgroundTask`` sleeps ``BACKGROUND_SECONDS``
  and prints ``BACKGROUND DONE /bg``;
- ``/bg-raise``: answers ``answered`` at once, then a ``BackgroundTask`` raises
  ``LookupError("background failure")``.

Lines go to stdout, flushed, so that they are in the output before the runtime goes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mangum_like import Mangum
from mangum_like._types import Receive, Scope, Send

TOKEN = "lifespan-token-7f3a"
LATE_SECONDS = 0.3
BACKGROUND_SECONDS = 1.0


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    print("ERRORS_APP STARTUP", flush=True)
    yield {"token": TOKEN, "served": [0]}


async def ok(request: Request) -> PlainTextResponse:
    served: list[int] = request.state.served
    served[0] += 1
    return PlainTextResponse(f"ok {request.state.token} {served[0]}")


async def boom(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(1 / 0))


class LateBoom:
    """A raw ASGI endpoint: a whole 500 response, then an exception a while later."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": b"failed on its own"})
        await anyio.sleep(LATE_SECONDS)
        raise RuntimeError("late failure")


async def unavailable(request: Request) -> PlainTextResponse:
    return PlainTextResponse("try later", status_code=503)


async def work() -> None:
    await anyio.sleep(BACKGROUND_SECONDS)
    print("BACKGROUND DONE /bg", flush=True)


async def fail_later() -> None:
    raise LookupError("background failure")


async def background(request: Request) -> PlainTextResponse:
    task = BackgroundTask(work) if request.url.path == "/bg" else BackgroundTask(fail_later)
    return PlainTextResponse("answered", background=task)


app = Starlette(
    routes=[
        Route("/ok", ok),
        Route("/boom", boom),
        Route("/late-boom", LateBoom()),
        Route("/unavailable", unavailable),
        Route("/bg", background),
        Route("/bg-raise", background),
    ],
    lifespan=lifespan,
)

handler = Mangum(app)
