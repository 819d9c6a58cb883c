"""The example FastAPI app, deployed as a Lambda function with ``handler``.

The lifespan runs once per execution environment: what it puts in ``state`` (here a start time
and an invocation counter; in real apps a database pool or an AWS client) is there for every
invocation the environment serves.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import FastAPI, Request, Response

from mangum_like import Mangum


class State(TypedDict):
    started_at: float
    served: list[int]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    yield {"started_at": time.time(), "served": [0]}


app = FastAPI(title="mangum_like example", lifespan=lifespan)


@app.get("/hello/{name}")
async def hello(name: str, request: Request) -> dict[str, Any]:
    served: list[int] = request.state.served
    served[0] += 1
    return {
        "message": f"Hello, {name}!",
        "served_by_this_environment": served[0],
        "environment_started_at": request.state.started_at,
        "docs": str(request.url_for("swagger_ui_html")),
    }


@app.post("/echo")
async def echo(request: Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.url.path,
        "root_path": request.scope["root_path"],
        "query": dict(request.query_params.multi_items()),
        "body": (await request.body()).decode("utf-8", "replace"),
    }


@app.get("/cookies")
async def cookies(response: Response) -> dict[str, str]:
    response.set_cookie("session", "abc123", httponly=True)
    response.set_cookie("theme", "dark")
    return {"set": "session, theme"}


@app.get("/pixel.gif")
async def pixel() -> Response:
    gif = bytes.fromhex(
        "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000020144003b"
    )
    return Response(gif, media_type="image/gif")


handler = Mangum(app)
