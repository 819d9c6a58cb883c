"""Starlette on Lambda: ``examples.starlette_basic.app.handler``.

``GET /hello/{name}`` greets with a word chosen at startup (lifespan state) and counts the
caller's visits in a cookie; ``POST /echo`` answers the JSON body it was sent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mangum_like import Mangum


class State(TypedDict):
    greeting: str


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[State]:
    # Runs once per Lambda execution environment; a real app opens its clients here.
    yield {"greeting": "Hello"}


async def hello(request: Request) -> JSONResponse:
    visits = int(request.cookies.get("visits", "0") or 0) + 1
    greeting: str = request.state.greeting
    name = request.path_params["name"]
    response = JSONResponse({"message": f"{greeting}, {name}!", "visits": visits})
    response.set_cookie("visits", str(visits), httponly=True)
    return response


async def echo(request: Request) -> JSONResponse:
    try:
        received = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    return JSONResponse({"received": received})


app = Starlette(
    routes=[Route("/hello/{name}", hello), Route("/echo", echo, methods=["POST"])],
    lifespan=lifespan,
)

handler = Mangum(app)
