"""Serve the items service on http://127.0.0.1:8000 through its Lambda handler, with no AWS account.

    python -m examples.fastapi_dynamodb [--host 127.0.0.1] [--port 8000]

Each HTTP request becomes an API Gateway HTTP API (payload 2.0) event and goes through
``handler``, the same code path as on Lambda; one request at a time, as in one Lambda execution
environment. The lifespan starts once (with the embedded DynamoDB when no endpoint is configured,
see dynamodb.py) and shuts down on Ctrl-C or SIGTERM. ``--port 0`` picks a free port.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import signal
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

from examples.fastapi_dynamodb.app import handler

logger = logging.getLogger("examples.fastapi_dynamodb")


class LocalContext:
    """The parts of a Lambda context the handler reads."""

    function_name = "items-local"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:items-local"
    memory_limit_in_mb = 512
    aws_request_id = "local"
    log_group_name = "/aws/lambda/items-local"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_api_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    client_ip: str,
) -> dict[str, Any]:
    """The HTTP API payload 2.0 event API Gateway would send for this request."""
    url = urlsplit(target)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            # HTTP API moves cookies out of the headers into a list of its own.
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    # What API Gateway adds in front of the app; here the client spoke plain HTTP.
    joined.setdefault("x-forwarded-proto", "http")
    joined.setdefault("x-forwarded-for", client_ip)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path or "/",
        "rawQueryString": url.query,
        "headers": joined,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": joined.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": url.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": client_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": bool(body),
    }
    if cookies:
        event["cookies"] = cookies
    if body:
        event["body"] = base64.b64encode(body).decode("ascii")
    return event


class LambdaProxy(BaseHTTPRequestHandler):
    """Turns each request into an event for ``handler`` and its result into the response."""

    # One request per connection: with requests served one at a time, an idle keep-alive
    # connection (a browser's) would hold up every other client.
    protocol_version = "HTTP/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        event = http_api_event(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        result = handler(event, LocalContext())
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        self.send_response(int(result["statusCode"]))
        for name, value in (result.get("headers") or {}).items():
            if name.lower() != "content-length":
                self.send_header(name, str(value))
        for cookie in result.get("cookies") or ():
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # mangum_like logs one access line per request itself; keep the server's quiet.
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # The embedded DynamoDB's own access log would drown the app's.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    with handler, HTTPServer((args.host, args.port), LambdaProxy) as server:
        host, port = server.server_address[:2]
        print(f"Serving on http://{host!s}:{port}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
