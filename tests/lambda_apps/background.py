"""A Starlette app that keeps working after its response, for the "answer first, finish after"
tests: run by name (``tests.lambda_apps.background.handler``) by our runtime loop, by the official
client (awslambdaric) and by ``mangum-like serve``, each in a subprocess.

- ``/bg``: answers ``answered`` at once, then a ``BackgroundTask`` sleeps 1 s and prints
  ``BACKGROUND DONE /bg``;
- ``/bg-long``: the same with a 30 s task, which the deadline guard cuts short (it prints
  ``BACKGROUND CANCELLED /bg-long`` when it is cancelled);
- ``/ping``: answers ``pong``, with no work after it.

The lines go to stdout, flushed, so that they are in the process's output before it does
anything else (asks for its next invocation, serves its next request).
"""

from __future__ import annotations

import anyio
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mangum_like import Mangum

SHORT_WORK = 1.0  # seconds of /bg's background task
LONG_WORK = 30.0  # /bg-long's: longer than any test's deadline


async def work(path: str, seconds: float) -> None:
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        print(f"BACKGROUND CANCELLED {path}", flush=True)
        raise
    print(f"BACKGROUND DONE {path}", flush=True)


async def background(request: Request) -> PlainTextResponse:
    seconds = LONG_WORK if request.url.path == "/bg-long" else SHORT_WORK
    return PlainTextResponse("answered", background=BackgroundTask(work, request.url.path, seconds))


async def ping(request: Request) -> PlainTextResponse:
    return PlainTextResponse("pong")


app = Starlette(
    routes=[Route("/bg", background), Route("/bg-long", background), Route("/ping", ping)]
)

handler = Mangum(app)
trio_handler = Mangum(app, backend="trio")
