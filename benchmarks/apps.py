"""Applications, events, adapters and subprocess entry points for ``bench.py``.

Everything here is deliberately small: two ASGI applications (a raw one and a
Starlette one, both with a lifespan), a binary-response application, the event
fixtures, a fake Lambda context, a tiny lifespan driver used as the
"application startup alone" baseline, and the code run in fresh interpreters
for the cold-start and memory measurements::

    python benchmarks/apps.py coldstart <variant> <app>
    python benchmarks/apps.py memory <variant> <warmup> <invocations>

Each child prints one JSON object on stdout.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REPO_ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = REPO_ROOT / "tests" / "fixtures" / "events"

HTTP_V2_GET = "powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json"
REST_V1 = "powertools/apigw-rest-v1/apiGatewayProxyEvent.json"
ALB_MULTI_GET = "aws-lambda-rust-runtime/alb-multi/alb_multi_value_request.json"

JSON_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"11")]
OK_BODY = b'{"ok":true}'


# --------------------------------------------------------------------------- apps


async def _consume_body(receive: Receive) -> bytes:
    """Read the whole request body, as a well-behaved application does."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _run_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """Lifespan protocol of the raw app: put a greeting in the shared state."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            state = scope.get("state")
            if state is not None:
                state["greeting"] = "hi"
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def raw_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A dependency-free ASGI app answering every request with ``{"ok":true}``."""
    if scope["type"] == "lifespan":
        await _run_lifespan(scope, receive, send)
        return
    await _consume_body(receive)
    await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
    await send({"type": "http.response.body", "body": OK_BODY})


def make_starlette_app() -> ASGIApp:
    """A Starlette app with a state-yielding lifespan and one catch-all route."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, str]]:
        yield {"greeting": "hi"}

    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "path": request.path_params["path"]})

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    routes = [Route("/{path:path}", endpoint, methods=methods)]
    return Starlette(routes=routes, lifespan=lifespan)


def make_binary_app(size: int) -> tuple[ASGIApp, bytes]:
    """An app returning ``size`` random bytes as application/octet-stream."""
    payload = os.urandom(size)
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(size).encode()),
    ]

    async def binary_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _run_lifespan(scope, receive, send)
            return
        await _consume_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return binary_app, payload


APP_FACTORIES: dict[str, Callable[[], ASGIApp]] = {
    "raw": lambda: raw_app,
    "starlette": make_starlette_app,
}


# ------------------------------------------------------------------------ events


def load_event(relative: str) -> dict[str, Any]:
    """Load one JSON event fixture, relative to ``tests/fixtures/events``."""
    with (EVENTS_DIR / relative).open(encoding="utf-8") as fh:
        event: dict[str, Any] = json.load(fh)
    return event


def kilobyte_json() -> str:
    """A JSON document of exactly 1024 bytes."""
    doc: dict[str, Any] = {"items": [{"id": i, "name": f"item-{i}"} for i in range(20)], "pad": ""}
    pad = 1024 - len(json.dumps(doc, separators=(",", ":")))
    if pad < 0:
        raise ValueError("base document is larger than 1 KiB")
    doc["pad"] = "x" * pad
    text = json.dumps(doc, separators=(",", ":"))
    assert len(text.encode()) == 1024
    return text


def load_events() -> dict[str, dict[str, Any]]:
    """The three benchmark events, keyed by a short display name."""
    rest = load_event(REST_V1)
    rest["httpMethod"] = "POST"
    rest["requestContext"]["httpMethod"] = "POST"
    rest["body"] = kilobyte_json()
    rest["isBase64Encoded"] = False
    rest["headers"]["Content-Type"] = "application/json"
    rest["multiValueHeaders"]["Content-Type"] = ["application/json"]
    return {
        "HTTP API 2.0 GET": load_event(HTTP_V2_GET),
        "REST v1 POST 1KB": rest,
        "ALB multi GET": load_event(ALB_MULTI_GET),
    }


def _pairs_from_multi(multi: dict[str, list[str]] | None) -> list[tuple[str, str]]:
    return [(key, value) for key, values in (multi or {}).items() for value in values]


def floor_scope(event: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """A hand-built ASGI http scope (and body) roughly equivalent to ``event``.

    Built once, outside any timed region: this is the input the floor contender
    hands to the application directly.
    """
    from urllib.parse import urlencode

    if event.get("version") == "2.0":
        method = event["requestContext"]["http"]["method"]
        path = event["rawPath"]
        query = event.get("rawQueryString", "")
        header_pairs = list(event.get("headers", {}).items())
        if event.get("cookies"):
            header_pairs.append(("cookie", "; ".join(event["cookies"])))
    else:
        method = event["httpMethod"]
        path = event["path"]
        query = urlencode(_pairs_from_multi(event.get("multiValueQueryStringParameters")))
        header_pairs = _pairs_from_multi(event.get("multiValueHeaders"))
    body = (event.get("body") or "").encode()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": None,
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in header_pairs],
        "client": ("192.168.0.1", 0),
        "server": ("example.com", 443),
    }
    return scope, body


# ----------------------------------------------------------------------- context


class FakeContext:
    """Just enough of ``awslambdaric``'s LambdaContext for an adapter."""

    function_name = "bench-function"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-function"
    memory_limit_in_mb = "1024"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/bench-function"
    log_stream_name = "2024/01/01/[$LATEST]00000000000000000000000000000000"
    identity = None
    client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


# ----------------------------------------------------------------- lifespan driver


class LifespanDriver:
    """Run an app's lifespan startup (and later shutdown) on a given loop."""

    def __init__(self, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Message] | None = None
        self._outbox: asyncio.Queue[Message] | None = None
        self._task: asyncio.Task[None] | None = None

    async def _startup(self) -> None:
        self._inbox, self._outbox = asyncio.Queue(), asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        self._task = asyncio.ensure_future(self.app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "lifespan.startup"})
        reply = await self._outbox.get()
        if reply["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"lifespan startup failed: {reply}")

    async def _shutdown(self) -> None:
        assert self._inbox is not None and self._task is not None
        await self._inbox.put({"type": "lifespan.shutdown"})
        await self._task

    def startup(self) -> dict[str, Any]:
        """Run startup to completion and return the lifespan state."""
        self.loop.run_until_complete(self._startup())
        return self.state

    def shutdown(self) -> None:
        """Run shutdown to completion."""
        self.loop.run_until_complete(self._shutdown())


# ---------------------------------------------------------------------- adapters

LIKE = "mangum_like auto"
OFF = "mangum 0.22 off"
AUTO = "mangum 0.22 auto"

# display name -> (importable module, lifespan mode)
ADAPTERS: dict[str, tuple[str, str]] = {
    LIKE: ("mangum_like", "auto"),
    OFF: ("mangum", "off"),
    AUTO: ("mangum", "auto"),
}

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def adapter_class(variant: str) -> Any:
    """Import the ``Mangum`` class behind an adapter variant."""
    module, _ = ADAPTERS[variant]
    return importlib.import_module(module).Mangum


def make_handler(variant: str, app: ASGIApp) -> Handler:
    """Wrap ``app`` with the adapter variant (constructor only, no invocation)."""
    _, lifespan = ADAPTERS[variant]
    handler: Handler = adapter_class(variant)(app, lifespan=lifespan)
    return handler


def close_handler(handler: Any) -> None:
    """Shut the adapter down if it has an explicit ``shutdown()`` (mangum_like does)."""
    shutdown = getattr(handler, "shutdown", None)
    if callable(shutdown):
        shutdown()


def check_status(name: str, result: Any) -> None:
    """Fail loudly unless ``result`` is a Lambda proxy response with status 200."""
    status = result.get("statusCode") if isinstance(result, dict) else None
    if status != 200:
        raise SystemExit(f"{name}: expected statusCode 200, got {result!r:.500}")


# ------------------------------------------------------------- child processes


def resident_bytes() -> int:
    """Current resident set size, from /proc/self/statm (falls back to ru_maxrss)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cold_start(variant: str, app_name: str) -> dict[str, Any]:
    """Time adapter construction + first invocation, or the app's startup alone."""
    app = APP_FACTORIES[app_name]()
    event = load_event(HTTP_V2_GET)
    context = FakeContext()
    if variant == "app startup":
        start = time.perf_counter_ns()
        driver = LifespanDriver(app, asyncio.new_event_loop())
        driver.startup()
        elapsed = time.perf_counter_ns() - start
        driver.shutdown()
        return {"ns": elapsed}
    cls = adapter_class(variant)  # the import itself is measured separately
    _, lifespan = ADAPTERS[variant]
    start = time.perf_counter_ns()
    handler = cls(app, lifespan=lifespan)
    result = handler(event, context)
    elapsed = time.perf_counter_ns() - start
    check_status(f"cold start {variant}/{app_name}", result)
    close_handler(handler)
    return {"ns": elapsed}


def memory_growth(variant: str, warmup: int, invocations: int) -> dict[str, Any]:
    """RSS growth of an adapter + raw app over many HTTP API 2.0 invocations."""
    handler = make_handler(variant, raw_app)
    event = load_event(HTTP_V2_GET)
    context = FakeContext()
    for _ in range(warmup):
        check_status("memory warm-up", handler(event, context))
    gc.collect()
    before = resident_bytes()
    for _ in range(invocations):
        handler(event, context)
    gc.collect()
    after = resident_bytes()
    close_handler(handler)
    return {"before": before, "after": after}


def child_main(argv: list[str]) -> int:
    """Entry point of the measurement subprocesses."""
    mode, *args = argv
    if mode == "coldstart":
        out = cold_start(args[0], args[1])
    elif mode == "memory":
        out = memory_growth(args[0], int(args[1]), int(args[2]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
