"""A Starlette app whose Mangum handler is wrapped in a ``functools.wraps`` decorator of the
user's own, invoked by name (``tests.lambda_apps.decorated_mangum:handler``) with
``mangum-like invoke`` in a subprocess (tests/test_handler_kind.py).

The decorator counts its calls: each prints ``DECORATOR CALLED <n>`` (to stdout, which the CLI
sends to stderr) and adds the header ``x-decorated: calls=<n>`` to the result. ``functools.wraps``
copies the Mangum's ``__dict__`` and sets ``__wrapped__``, so the decorator looks much like the
Mangum it wraps; it must still be called as the handler, once per invocation.

Routes: ``/hello`` answers ``hello <token>``, the token from the lifespan state.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mangum_like import Mangum

TOKEN = "decorated-token"
calls = [0]


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    yield {"token": TOKEN}


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello {request.state.token}")


app = Starlette(routes=[Route("/hello", hello)], lifespan=lifespan)


def count_calls(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        print(f"DECORATOR CALLED {calls[0]}", flush=True)
        result = dict(fn(*args, **kwargs))
        result["headers"] = {**(result.get("headers") or {}), "x-decorated": f"calls={calls[0]}"}
        return result

    return wrapper


inner = Mangum(app)
handler = count_calls(inner)
