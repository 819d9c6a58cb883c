"""Small apps the CLI tests serve and invoke by import string (``tests.cli_apps:app``)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from urllib.parse import parse_qsl

import anyio
from fastapi import FastAPI, Request

from mangum_like import Mangum
from mangum_like._types import Message, Receive, Scope, Send

#: When set, the lifespan of ``app`` appends "startup" and "shutdown" lines to this file.
MARKER_ENV = "MANGUM_LIKE_TEST_MARKER"


class EchoApp:
    """A raw ASGI app: ``/binary`` echoes the body as bytes, ``/cookies`` sets two cookies,
    ``/fail`` raises, anything else answers what the app received, as JSON."""

    def __init__(self) -> None:
        self.startups = 0
        self.shutdowns = 0
        self.requests = 0

    def _mark(self, line: str) -> None:
        marker = os.environ.get(MARKER_ENV)
        if marker:
            with open(marker, "a", encoding="utf-8") as file:
                file.write(line + "\n")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.startups += 1
                    scope["state"]["startups"] = self.startups
                    self._mark("startup")
                    await send({"type": "lifespan.startup.complete"})
                else:
                    self.shutdowns += 1
                    self._mark("shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.requests += 1
        body = b""
        while True:
            chunk: Message = await receive()
            body += chunk.get("body", b"")
            if not chunk.get("more_body"):
                break
        route = scope["path"][len(scope["root_path"]) :]
        if route == "/fail":
            raise RuntimeError("the app failed on purpose")
        if route == "/binary":
            headers = [(b"content-type", b"application/octet-stream")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if route == "/cookies":
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"set-cookie", b"first=1; Path=/"),
                (b"set-cookie", b"second=2; Path=/; HttpOnly"),
                (b"x-repeated", b"a"),
                (b"x-repeated", b"b"),
            ]
            await send({"type": "http.response.start", "status": 201, "headers": headers})
            await send({"type": "http.response.body", "body": b"cookies set"})
            return
        context = scope["aws.context"]
        seen: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "root_path": scope["root_path"],
            "query_string": scope["query_string"].decode("latin-1"),
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
            "body": base64.b64encode(body).decode("ascii"),
            "client": list(scope["client"]) if scope["client"] else None,
            "scheme": scope["scheme"],
            "state": scope.get("state"),
            "remaining_ms": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id,
            "requests": self.requests,
        }
        payload = json.dumps(seen).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


app = EchoApp()
handler = Mangum(app)
not_callable = 42


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A plain Lambda handler: answers a fixed v2 result, or a malformed one on ``/bad``."""
    if "Records" in event:  # Lambda@Edge
        path = event["Records"][0]["cf"]["request"]["uri"]
    else:
        path = event.get("rawPath") or event.get("path")
    if path == "/bad":
        return {"statusCode": "not a status"}
    if path == "/raise":
        raise ValueError("the handler failed on purpose")
    if path == "/crlf":
        return {
            "statusCode": 200,
            "headers": {
                "x-bad": "a\r\nb",
                "date": "Mon, 01 Jan 2024",
                "x-latin": "caf\u00e9",
                "x-snowman": "\u2603",
            },
        }
    if path == "/huge":
        return {"statusCode": 200, "body": "x" * (7 * 1024 * 1024)}
    if path == "/unserialisable":
        return {"statusCode": 200, "body": object()}
    return {
        "statusCode": 418,
        "headers": {"content-type": "text/plain", "x-request-id": context.aws_request_id},
        "cookies": ["a=1", "b=2"],
        "body": "short and stout",
    }


fastapi_app = FastAPI()


@fastapi_app.get("/items/{item_id}")
async def read_item(item_id: int, request: Request) -> dict[str, Any]:
    return {"item_id": item_id, "url": str(request.url_for("read_item", item_id=item_id))}


class StreamingApp:
    """A raw ASGI app whose responses come in several body messages, for ``--invoke-mode
    response_stream``. Routes: ``/sse?n=&interval=`` (events spaced in time), ``/large?mb=``
    (a binary body in 1 MB messages plus an odd tail), ``/headers`` (cookies and repeated
    headers), ``/fail-before`` and ``/fail-after`` (raise before or after the start),
    ``/wait-disconnect`` (one chunk, then wait for ``http.disconnect``), ``/status/CODE``."""

    def __init__(self) -> None:
        self.requests = 0
        #: What ``receive()`` answered ``/wait-disconnect`` after its first chunk went out.
        self.after_first: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan
        self.requests += 1
        await receive()
        route = scope["path"][len(scope["root_path"]) :]
        query = dict(parse_qsl(scope["query_string"].decode()))
        if route == "/fail-before":
            raise RuntimeError("the app failed before its response started")
        if route.startswith("/status/"):
            await _start(send, int(route.rpartition("/")[2]), [(b"content-type", b"text/plain")])
            await _chunk(send, b"ignored", more=False)
            return
        if route == "/sse":
            await _start(send, 200, [(b"content-type", b"text/event-stream")])
            for index in range(int(query.get("n", "5"))):
                if index:
                    await anyio.sleep(float(query.get("interval", "0.2")))
                await _chunk(send, f"id: {index}\ndata: event {index}\n\n".encode())
            await _chunk(send, b"", more=False)
            return
        if route == "/large":
            await _start(send, 200, [(b"content-type", b"application/octet-stream")])
            for index in range(int(query.get("mb", "8"))):
                await _chunk(send, large_part(index))
            await _chunk(send, b"tail", more=False)
            return
        if route == "/headers":
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"set-cookie", b"first=1; Path=/"),
                (b"set-cookie", b"second=2; Path=/; HttpOnly"),
                (b"x-repeated", b"a"),
                (b"x-repeated", b"b"),
                (b"x-single", b"one"),
                (b"content-length", b"11"),
            ]
            await _start(send, 201, headers)
            await _chunk(send, b"cookies")
            await _chunk(send, b" set", more=False)
            return
        if route == "/wait-disconnect":
            await _start(send, 200, [(b"content-type", b"text/plain")])
            await _chunk(send, b"first")
            message = await receive()
            self.after_first.append(message["type"])
            await _chunk(send, b"after the disconnect", more=False)
            return
        if route == "/fail-after":
            await _start(send, 200, [(b"content-type", b"text/plain")])
            await _chunk(send, b"partial")
            raise RuntimeError("the app failed after its response started")
        await _start(send, 404, [(b"content-type", b"text/plain")])
        await _chunk(send, b"no such route", more=False)


def large_part(index: int) -> bytes:
    """1 MB of binary, different for each index (every byte value appears)."""
    return bytes((index + offset) % 256 for offset in range(256)) * 4096


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _chunk(send: Send, body: bytes, *, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": more})


streaming_app = StreamingApp()
