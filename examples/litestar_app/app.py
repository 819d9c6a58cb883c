"""Litestar on Lambda: ``examples.litestar_app.app.handler``.

``GET /hello/{name}`` greets with a word chosen in the lifespan (once per Lambda execution
environment, kept in ``app.state``) and counts the caller's visits in a cookie;
``POST /echo`` answers the JSON body it was sent (Litestar answers 400 if it is not JSON).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.params import FromPath, JSONBody

from mangum_like import Mangum


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    app.state.greeting = "Hello"
    yield


@get("/hello/{name:str}")
async def hello(
    name: FromPath[str], request: Request[Any, Any, State], state: State
) -> Response[Any]:
    visits = int(request.cookies.get("visits", "0") or 0) + 1
    return Response(
        {"message": f"{state.greeting}, {name}!", "visits": visits},
        cookies=[Cookie(key="visits", value=str(visits), httponly=True)],
    )


@post("/echo", status_code=200)
async def echo(data: JSONBody[Any]) -> dict[str, Any]:
    return {"received": data}


# logging_config=None: Lambda's runtime already sends the root logger to CloudWatch; Litestar's
# default configuration would add a handler of its own and set the root level to INFO.
app = Litestar(route_handlers=[hello, echo], lifespan=[lifespan], logging_config=None)

handler = Mangum(app)
