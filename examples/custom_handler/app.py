"""``custom_handlers``: serve an event format that no AWS HTTP source produces.

Here other services call the function directly (``aws lambda invoke``, Step Functions, another
Lambda) with a small event of their own: ``{"action": "GET /items/7", "payload": {...}}``. The
handler class follows Mangum 0.22's protocol, so a class written for Mangum works unchanged:

- ``infer(event, context, config)`` (classmethod): whether the event is this handler's;
- ``__init__(event, context, config)``, then the ``scope`` and ``body`` properties: the ASGI
  request;
- ``__call__(response)``: the Lambda result, from ``{"status", "headers", "body"}``.

``config`` holds ``api_gateway_base_path``, ``text_mime_types`` (Mangum's default text types
plus those passed to ``Mangum``) and ``exclude_headers``. Custom handlers are tried before the
built-in sources, so API Gateway and Function URL events keep working on the same function.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from mangum_like import Mangum


class DirectInvocation:
    """Events ``{"action": "METHOD /path", "payload": <JSON>}`` from direct invocations."""

    def __init__(self, event: dict[str, Any], context: Any, config: dict[str, Any]) -> None:
        self.event = event
        self.context = context
        self.config = config

    @classmethod
    def infer(cls, event: Any, context: Any, config: dict[str, Any]) -> bool:
        return isinstance(event, dict) and isinstance(event.get("action"), str)

    @property
    def body(self) -> bytes:
        payload = self.event.get("payload")
        return b"" if payload is None else json.dumps(payload).encode()

    @property
    def scope(self) -> dict[str, Any]:
        method, _, target = self.event["action"].partition(" ")
        path, _, query = target.partition("?")
        headers = [(b"content-type", b"application/json")] if self.body else []
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method.upper(),
            "scheme": "https",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": headers,
            "client": None,
            "server": None,
            "aws.event": self.event,
            "aws.context": self.context,
        }

    def __call__(self, response: dict[str, Any]) -> dict[str, Any]:
        body: bytes = response["body"]
        return {"status": response["status"], "result": json.loads(body) if body else None}


app = FastAPI()


@app.get("/items/{item_id}")
async def read_item(item_id: int, verbose: bool = False) -> dict[str, Any]:
    return {"id": item_id, "name": f"item {item_id}", **({"verbose": True} if verbose else {})}


@app.post("/items")
async def create_item(item: dict[str, Any]) -> dict[str, Any]:
    return {"created": item}


handler = Mangum(app, lifespan="off", custom_handlers=[DirectInvocation])
