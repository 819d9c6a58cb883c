"""Quart on Lambda: ``examples.quart_app.app.handler``.

Quart runs its ``before_serving`` hooks on ASGI lifespan startup: once per Lambda execution
environment. ``GET /hello/<name>`` greets with the word chosen there and counts the caller's
visits in a cookie; ``POST /echo`` answers the JSON body it was sent (400 if it is not JSON).
Quart is built on asyncio: keep the handler's default ``backend="asyncio"``.
"""

from __future__ import annotations

from typing import Any

from quart import Quart, Response, jsonify, request

from mangum_like import Mangum

app = Quart(__name__)


@app.before_serving
async def startup() -> None:
    app.config["GREETING"] = "Hello"


@app.get("/hello/<name>")
async def hello(name: str) -> Response:
    visits = int(request.cookies.get("visits", "0") or 0) + 1
    response = jsonify({"message": f"{app.config['GREETING']}, {name}!", "visits": visits})
    response.set_cookie("visits", str(visits), httponly=True)
    return response


@app.post("/echo")
async def echo() -> dict[str, Any]:
    received = await request.get_json(force=True)
    return {"received": received}


handler = Mangum(app)
