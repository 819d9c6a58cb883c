"""``mangum-like serve``: real HTTP on 127.0.0.1, each request an event of the chosen format.

The server runs in a thread of the test (an ephemeral port, bounded waits) except where the
process itself matters: SIGTERM and Ctrl-C are sent to a ``python -m mangum_like serve``
subprocess, whose lifespan shutdown is observed through a marker file.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mangum_like import _cli
from mangum_like._cli import DevServer, Function
from mangum_like._lambda.payload import MAX_EVENT_BYTES

from .cli_apps import MARKER_ENV, EchoApp, fastapi_app, lambda_handler
from .serve_process import ROOT, serve_process

#: The formats served end to end here.
SERVED = ("v2", "v1", "alb", "alb-multi", "url", "lattice-v2", "edge")
#: The query string the app sees for "?x=1&x=2&y=z%20w", by format: payload 2.0 and ALB
#: multi-value mode and CloudFront pass it as sent; a REST API and VPC Lattice decode the
#: parameters (the adapter re-encodes them); ALB single-value mode keeps the last value of a
#: repeated key.
QUERY_SEEN = {
    "v2": "x=1&x=2&y=z%20w",
    "url": "x=1&x=2&y=z%20w",
    "v1": "x=1&x=2&y=z+w",
    "alb": "x=2&y=z%20w",
    "alb-multi": "x=1&x=2&y=z%20w",
    "lattice-v2": "x=1&x=2&y=z+w",
    "edge": "x=1&x=2&y=z%20w",
}


class Client:
    """HTTP requests to a served app over one keep-alive connection, bounded in time."""

    def __init__(self, server: DevServer) -> None:
        self.server = server
        self.port: int = server.server_address[1]
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(
        self,
        method: str,
        target: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        *,
        chunked: bool = False,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        self.connection.request(
            method, target, body=body, headers=headers or {}, encode_chunked=chunked
        )
        response = self.connection.getresponse()
        return response.status, response.getheaders(), response.read()

    def json(self, method: str, target: str, **kwargs: Any) -> dict[str, Any]:
        status, _, body = self.request(method, target, **kwargs)
        assert status == 200, body
        seen: dict[str, Any] = json.loads(body)
        return seen

    def raw(self, data: bytes) -> bytes:
        """Send bytes on a fresh connection and read the answer until the server closes it."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)  # the server sees the end of what the client sends
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


@contextlib.contextmanager
def serving(
    target: Any,
    fmt: str,
    *,
    stage: str | None = None,
    base_path: str | None = None,
    backend: str | None = None,
    timeout: float = 30.0,
    invoke_mode: str = "buffered",
    start: bool = True,
) -> Iterator[Client]:
    function = Function(target, base_path=base_path, backend=backend)
    server = DevServer(function, fmt, port=0, stage=stage, timeout=timeout, invoke_mode=invoke_mode)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    if start:
        function.start()
    thread.start()
    client = Client(server)
    try:
        yield client
    finally:
        client.connection.close()
        server.shutdown()
        thread.join(10)
        server.server_close()
        # As serve does: a streamed response is complete for the client before its invocation
        # has returned.
        with server.invocation:
            function.stop()


def values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name]


@pytest.fixture(params=SERVED)
def fmt(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


class TestEveryFormat:
    """GET, POST, binary, cookies, HEAD and 413 through every event format, on both loops."""

    def test_get(self, fmt: str, backend: str) -> None:
        app = EchoApp()
        with serving(app, fmt, backend=backend) as client:
            seen = client.json(
                "GET",
                "/items/a%2Fb?x=1&x=2&y=z%20w",
                headers={"Cookie": "c=3; d=4", "X-Custom": "one"},
            )
            host = f"127.0.0.1:{client.port}"
        assert seen["method"] == "GET"
        assert seen["path"] == "/items/a/b"
        # An HTTP API decodes the path before it makes the event: the raw path is that path.
        assert seen["raw_path"] == ("/items/a/b" if fmt == "v2" else "/items/a%2Fb")
        assert seen["root_path"] == ""
        assert seen["query_string"] == QUERY_SEEN[fmt]
        headers = seen["headers"]
        assert values(headers, "cookie") == ["c=3; d=4"]
        assert values(headers, "x-custom") == ["one"]
        assert values(headers, "host") == [host]
        # CloudFront names the protocol in its own header.
        proto = "cloudfront-forwarded-proto" if fmt == "edge" else "x-forwarded-proto"
        assert values(headers, proto) == ["http"]
        assert values(headers, "x-forwarded-for") == ["127.0.0.1"]
        assert values(headers, "transfer-encoding") == values(headers, "connection") == []
        assert seen["client"] == ["127.0.0.1", 0]
        assert seen["scheme"] == "http"
        assert seen["state"] == {"startups": 1}
        assert 25_000 < seen["remaining_ms"] <= 30_000
        assert seen["body"] == ""

    def test_post_text(self, fmt: str, backend: str) -> None:
        body = json.dumps({"name": "café"}).encode()
        with serving(EchoApp(), fmt, backend=backend) as client:
            seen = client.json(
                "POST", "/echo", body=body, headers={"Content-Type": "application/json"}
            )
        assert seen["method"] == "POST"
        assert seen["body"] == "eyJuYW1lIjogImNhZlx1MDBlOSJ9"  # the JSON above, base64
        assert values(seen["headers"], "content-length") == [str(len(body))]

    def test_binary_both_ways(self, fmt: str, backend: str) -> None:
        body = bytes(range(256)) * 64
        with serving(EchoApp(), fmt, backend=backend) as client:
            status, headers, received = client.request(
                "POST", "/binary", body=body, headers={"Content-Type": "image/png"}
            )
        assert status == 200
        assert received == body
        assert values(headers, "content-type") == ["application/octet-stream"]
        assert values(headers, "content-length") == [str(len(body))]

    def test_repeated_set_cookie_and_headers(self, fmt: str, backend: str) -> None:
        with serving(EchoApp(), fmt, backend=backend) as client:
            status, headers, body = client.request("GET", "/cookies")
        assert status == 201
        assert body == b"cookies set"
        assert values(headers, "set-cookie") == ["first=1; Path=/", "second=2; Path=/; HttpOnly"]
        repeated = [
            part.strip() for value in values(headers, "x-repeated") for part in value.split(",")
        ]
        assert repeated == ["a", "b"]

    def test_head_has_no_body(self, fmt: str, backend: str) -> None:
        with serving(EchoApp(), fmt, backend=backend) as client:
            status, headers, body = client.request("HEAD", "/echo")
            # The connection is still in step: the next request on it is answered.
            after = client.json("GET", "/echo")
        assert status == 200
        assert body == b""
        if fmt == "edge":
            # Content-Length is read-only for edge functions: CloudFront sets it.
            assert values(headers, "content-length") == []
        else:
            assert int(values(headers, "content-length")[0]) > 0
        assert after["requests"] == 2

    def test_chunked_request_body(self, fmt: str) -> None:
        with serving(EchoApp(), fmt) as client:
            seen = client.json(
                "POST",
                "/echo",
                body=iter([b"abc", b"", b"defg"]),
                headers={"Content-Type": "text/plain"},
                chunked=True,
            )
        assert seen["body"] == "YWJjZGVmZw=="  # "abcdefg"
        assert values(seen["headers"], "content-length") == ["7"]
        assert values(seen["headers"], "transfer-encoding") == []

    def test_413_declared_length(self, fmt: str) -> None:
        app = EchoApp()
        with serving(app, fmt) as client:
            answer = client.raw(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                % (MAX_EVENT_BYTES + 1)
            )
        assert answer.startswith(b"HTTP/1.1 413 ")  # "Content Too Large" since Python 3.13
        assert b"\r\nConnection: close\r\n" in answer
        assert app.requests == 0

    def test_413_before_100_continue(self, fmt: str) -> None:
        app = EchoApp()
        with serving(app, fmt) as client:
            answer = client.raw(
                b"PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Length: %d\r\n\r\n" % (MAX_EVENT_BYTES + 1)
            )
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"100 Continue" not in answer
        assert app.requests == 0

    def test_413_chunked(self, fmt: str) -> None:
        app = EchoApp()
        chunk = b"x" * (1024 * 1024)
        with serving(app, fmt) as client:
            status, _, _ = client.request(
                "POST",
                "/echo",
                body=iter([chunk] * 7),
                headers={"Content-Type": "text/plain"},
                chunked=True,
            )
            # The body was read to its end: the connection carries the next request.
            after = client.json("GET", "/after")
        assert status == 413
        assert after["requests"] == app.requests == 1

    def test_100_continue_then_the_body(self, fmt: str) -> None:
        with serving(EchoApp(), fmt) as client:
            answer = client.raw(
                b"PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
                b"abc"
            )
        head, _, body = answer.partition(b"\r\n\r\nHTTP/1.1 200 OK\r\n")
        assert head == b"HTTP/1.1 100 Continue"
        assert json.loads(body.partition(b"\r\n\r\n")[2])["body"] == "YWJj"  # "abc"

    def test_chunked_trailers_and_an_impossible_chunk(self, fmt: str) -> None:
        app = EchoApp()
        with serving(app, fmt) as client:
            trailers = client.raw(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: text/plain\r\nConnection: close\r\n\r\n"
                b"2;ext=1\r\nhi\r\n0\r\nX-Checksum: 1\r\n\r\n"
            )
            huge = client.raw(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n"
            )
        assert json.loads(trailers.partition(b"\r\n\r\n")[2])["body"] == "aGk="  # "hi"
        assert huge.startswith(b"HTTP/1.1 413 ")
        assert app.requests == 1

    def test_lifespan_once_across_requests_and_connections(self, fmt: str, backend: str) -> None:
        app = EchoApp()
        with serving(app, fmt, backend=backend) as client:
            first = client.json("GET", "/one")
            second = client.json("GET", "/two")
            other = Client(client.server)
            third = other.json("GET", "/three")
            other.connection.close()
            assert app.shutdowns == 0
        assert (first["requests"], second["requests"], third["requests"]) == (1, 2, 3)
        assert first["state"] == third["state"] == {"startups": 1}
        assert len({first["request_id"], second["request_id"], third["request_id"]}) == 3
        assert (app.startups, app.shutdowns) == (1, 1)


@pytest.mark.parametrize("fmt", ["v2", "v1", "alb", "alb-multi", "url", "lattice-v2"])
def test_413_when_the_event_outgrows_the_payload_limit(fmt: str) -> None:
    # 5 MB of binary is under the limit, but base64 in the event makes it 6.7 MB.
    app = EchoApp()
    with serving(app, fmt) as client:
        status, _, _ = client.request(
            "POST",
            "/binary",
            body=bytes(5 * 1024 * 1024),
            headers={"Content-Type": "application/octet-stream"},
        )
    assert status == 413
    assert app.requests == 0


def test_edge_body_over_what_cloudfront_exposes(caplog: pytest.LogCaptureFixture) -> None:
    # An origin-request trigger sees at most 1 MB of the body, flagged inputTruncated; the
    # adapter refuses to serve the app a cut body.
    app = EchoApp()
    with serving(app, "edge") as client:
        status, _, body = client.request(
            "POST", "/binary", body=bytes(2 * 1024 * 1024), headers={"Content-Type": "image/png"}
        )
    assert status == 400
    assert b"truncated" in body
    assert app.requests == 0


def test_keep_alive_requests_do_not_wait_for_delayed_acks() -> None:
    # With Nagle's algorithm on, each response's body waits for the client's delayed ACK of
    # its head: some 40 ms a request. 50 requests take well under 1 s without it.
    with serving(EchoApp(), "v2") as client:
        client.request("GET", "/warm-up")
        started = time.monotonic()
        for _ in range(50):
            status, _, _ = client.request("GET", "/echo")
            assert status == 200
        elapsed = time.monotonic() - started
    assert elapsed < 1.0


class TestStagesAndBasePath:
    def test_rest_api_stage(self) -> None:
        app = EchoApp()
        with serving(app, "v1", stage="Prod") as client:
            seen = client.json("GET", "/Prod/items?q=1")
            status, _, body = client.request("GET", "/items")
        assert (seen["root_path"], seen["path"], seen["query_string"]) == (
            "/Prod",
            "/Prod/items",
            "q=1",
        )
        assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
        assert app.requests == 1

    def test_http_api_stage(self) -> None:
        app = EchoApp()
        with serving(app, "v2", stage="beta") as client:
            seen = client.json("GET", "/beta/items")
            status, _, body = client.request("GET", "/items")
        assert (seen["root_path"], seen["path"]) == ("/beta", "/beta/items")
        assert (status, json.loads(body)) == (404, {"message": "Not Found"})

    def test_base_path(self) -> None:
        with serving(EchoApp(), "v2", base_path="/api") as client:
            seen = client.json("GET", "/api/items")
        assert (seen["root_path"], seen["path"]) == ("/api", "/api/items")

    def test_fastapi_url_for_works_from_the_client(self) -> None:
        with serving(fastapi_app, "v1", stage="Prod") as client:
            item = client.json("GET", "/Prod/items/7")
            status, _, docs = client.request("GET", "/Prod/docs")
        assert item == {"item_id": 7, "url": f"http://127.0.0.1:{client.port}/Prod/items/7"}
        assert status == 200
        assert b"/Prod/openapi.json" in docs


class TestHandlerOutcomes:
    def test_context_counts_down_from_the_timeout(self) -> None:
        with serving(EchoApp(), "v2", timeout=5) as client:
            seen = client.json("GET", "/echo")
        assert 3_000 < seen["remaining_ms"] <= 5_000

    def test_plain_lambda_handler(self) -> None:
        with serving(lambda_handler, "v2") as client:
            status, headers, body = client.request("GET", "/tea")
        assert (status, body) == (418, b"short and stout")
        assert values(headers, "set-cookie") == ["a=1", "b=2"]
        assert len(values(headers, "x-request-id")[0]) == 36

    @pytest.mark.parametrize(
        ("path", "logged"),
        [
            ("/bad", "Malformed Lambda result (the result's statusCode must be an HTTP status"),
            ("/raise", "The function failed (ValueError: the handler failed on purpose)"),
            ("/unserialisable", "The function failed (Runtime.MarshalError: Unable to marshal"),
        ],
    )
    def test_failed_invocation_answers_502(
        self, path: str, logged: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        with serving(lambda_handler, "v2") as client:
            status, _, body = client.request("GET", path)
            after, _, _ = client.request("GET", "/tea")
        assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
        assert logged in caplog.text
        assert after == 418

    def test_header_with_a_line_break_is_dropped(self, caplog: pytest.LogCaptureFixture) -> None:
        with serving(lambda_handler, "v2") as client:
            status, headers, _ = client.request("GET", "/crlf")
        assert status == 200
        assert values(headers, "x-bad") == []
        assert values(headers, "date") == ["Mon, 01 Jan 2024"]
        # http.client reads header bytes as Latin-1: é went out as one byte, the snowman as UTF-8.
        assert values(headers, "x-latin") == ["caf\u00e9"]
        assert values(headers, "x-snowman") == ["\u2603".encode().decode("latin-1")]
        assert "Dropped the response header 'x-bad'" in caplog.text

    def test_ipv6_loopback(self) -> None:
        function = Function(EchoApp(), base_path=None, backend=None)
        server = DevServer(function, "v1", host="::1", port=0, stage="Prod")
        try:
            assert server.url == f"http://[::1]:{server.server_address[1]}/Prod"
        finally:
            server.server_close()

    def test_failed_edge_function(self) -> None:
        # CloudFront: 503 for an execution error, 502 for a result that fails validation.
        with serving(lambda_handler, "edge") as client:
            raised, _, _ = client.request("GET", "/raise")
            invalid, _, body = client.request("GET", "/bad")
        assert (raised, invalid) == (503, 502)
        assert body == b"502 Bad Gateway"

    def test_failed_invocation_alb_answers_text(self) -> None:
        with serving(lambda_handler, "alb") as client:
            status, headers, body = client.request("GET", "/bad")
        assert (status, body) == (502, b"502 Bad Gateway")
        assert values(headers, "content-type") == ["text/plain"]

    def test_app_exception_answers_500(self, caplog: pytest.LogCaptureFixture) -> None:
        with serving(EchoApp(), "v2") as client:
            status, _, _ = client.request("GET", "/fail")
            seen = client.json("GET", "/echo")
        assert status == 500
        assert "the app failed on purpose" in caplog.text
        assert seen["requests"] == 2

    def test_access_log_line(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, "mangum_like.cli")
        with serving(EchoApp(), "v2") as client:
            client.request("GET", "/logged?x=1")
        lines = [r.getMessage() for r in caplog.records if r.name == "mangum_like.cli.access"]
        assert len(lines) == 1
        method, target, status, duration = lines[0].split(" ")
        assert (method, target, status) == ("GET", "/logged?x=1", "200")
        assert duration.endswith("ms") and float(duration[:-2]) > 0

    def test_bad_requests(self, caplog: pytest.LogCaptureFixture) -> None:
        app = EchoApp()
        with serving(app, "v2") as client:
            bad_length = client.raw(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: nine\r\n\r\n"
            )
            bad_chunk = client.raw(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
            )
            short_chunk = client.raw(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nab\r\n0\r\n\r\n"
            )
            short_body = client.raw(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"
            )
            unknown = client.raw(b"BREW /pot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            chunk_overrun = client.raw(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabcX\r\n0\r\n\r\n"
            )
            bad_expect = client.raw(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Length: many\r\n\r\n"
            )
        assert bad_expect.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 ")
        for answer in (bad_length, bad_chunk, short_chunk, chunk_overrun):
            assert answer.startswith(b"HTTP/1.1 400 ")
        # The client closed its side before the body was complete.
        assert short_body.startswith(b"HTTP/1.1 400 ")
        assert unknown.startswith(b"HTTP/1.1 501 ")
        assert "Unsupported method ('BREW')" in caplog.text
        assert app.requests == 0


# -- the serve command ----------------------------------------------------------------------------


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """Keep main() from attaching its stderr handler (records reach caplog); restore after."""
    logger = logging.getLogger("mangum_like.cli")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    logger.addHandler(logging.NullHandler())
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_serve_command_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cli_logging: None
) -> None:
    """``main(["serve", ...])`` in this process, stopped by a SIGINT (Ctrl-C) it handles."""
    from . import cli_apps

    app = EchoApp()
    monkeypatch.setattr(cli_apps, "app", app)
    monkeypatch.chdir(ROOT)
    port = _free_port()
    answers: list[bytes] = []

    def client() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(b"GET /Prod/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                    answers.append(sock.recv(65536))
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=client)
    thread.start()
    status = _cli.main(
        ["serve", "tests.cli_apps:app", "--port", str(port), "--format", "v1", "--stage", "Prod"]
    )
    thread.join(10)
    assert status == 0
    assert answers and answers[0].startswith(b"HTTP/1.1 200 OK\r\n")
    out = capsys.readouterr().out
    assert f"on http://127.0.0.1:{port}/Prod (Ctrl-C to stop)" in out
    assert (app.startups, app.shutdowns, app.requests) == (1, 1, 1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_serve_command_port_in_use(capsys: pytest.CaptureFixture[str], cli_logging: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = _cli.main(["serve", "tests.cli_apps:app", "--port", str(port)])
    assert status == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_serve_command_rejects_stage_outside_api_gateway(
    capsys: pytest.CaptureFixture[str], cli_logging: None
) -> None:
    status = _cli.main(["serve", "tests.cli_apps:app", "--format", "alb", "--stage", "Prod"])
    assert status == 2
    assert (
        "--stage applies to the API Gateway formats v1 and v2, not alb" in capsys.readouterr().err
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_signal_shuts_the_lifespan_down(signum: int, tmp_path: Path) -> None:
    marker = tmp_path / "lifespan.txt"
    env = dict(os.environ, **{MARKER_ENV: str(marker)})
    args = [sys.executable, "-m", "mangum_like", "serve", "tests.cli_apps:app", "--port", "0"]
    with serve_process(args, env=env, stop_signal=signum) as served:
        connection = http.client.HTTPConnection(served.host, served.port, timeout=10)
        connection.request("GET", "/echo")
        assert connection.getresponse().status == 200
        connection.close()
    status, stderr = served.status, served.stderr
    assert status == 0, stderr
    assert marker.read_text() == "startup\nshutdown\n"
    assert "GET /echo 200 " in stderr
    assert "Stopped; the app's lifespan has shut down" in stderr


RELOADED_APP = """
import os

VERSION = {version!r}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            with open(os.environ["{marker}"], "a") as file:
                file.write(message["type"].split(".")[1] + "\\n")
            await send({{"type": message["type"] + ".complete"}})
            if message["type"] == "lifespan.shutdown":
                return
    await receive()
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": VERSION.encode()}})
"""


def test_reload_restarts_on_change(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    cli_logging: None,
) -> None:
    """``serve --reload`` in this process: its child server restarts on each change of a .py
    file, survives a change that breaks the import, and stops on SIGINT."""
    source = tmp_path / "reloaded_app.py"
    marker = tmp_path / "lifespan.txt"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    monkeypatch.chdir(tmp_path)
    port = _free_port()
    seen: list[bytes] = []
    mtime = [time.time()]

    def write(text: str) -> None:
        source.write_text(text)
        mtime[0] += 2  # a clearly later modification time, whatever the clock's resolution
        os.utime(source, (mtime[0], mtime[0]))

    def get_until(expected: bytes, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/")
                body = connection.getresponse().read()
                connection.close()
                if body == expected:
                    seen.append(body)
                    return
            except OSError:
                pass
            time.sleep(0.1)

    def client() -> None:
        try:
            get_until(b"1")
            write("def broken(:\n")
            deadline = time.monotonic() + 30
            while "The server exited with status 1" not in caplog.text:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.1)
            write(RELOADED_APP.format(version="3", marker=MARKER_ENV))
            get_until(b"3")
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    write(RELOADED_APP.format(version="1", marker=MARKER_ENV))
    caplog.set_level(logging.INFO, "mangum_like.cli")
    thread = threading.Thread(target=client)
    thread.start()
    status = _cli.main(["serve", "reloaded_app:app", "--reload", "--port", str(port)])
    thread.join(30)
    assert status == 0
    assert seen == [b"1", b"3"]
    assert marker.read_text() == "startup\nshutdown\nstartup\nshutdown\n"
    assert f"{source} changed; restarting" in caplog.text
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_serve_the_flagship_example_with_no_aws_account(tmp_path: Path) -> None:
    """``mangum-like serve`` of examples/fastapi_dynamodb: its lifespan starts the embedded
    DynamoDB (no endpoint configured, not on Lambda), and the CRUD routes work over HTTP."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_LAMBDA_FUNCTION_NAME")
        and not name.startswith("ITEMS_")
    }
    env["HOME"] = str(tmp_path)  # no ~/.aws of the developer's
    script = Path(sys.executable).parent / "mangum-like"
    args = [str(script), "serve", "examples.fastapi_dynamodb.app:handler", "--port", "0"]
    with serve_process(args, env=env, start_seconds=60, stop_seconds=30) as served:
        connection = http.client.HTTPConnection(served.host, served.port, timeout=20)
        connection.request(
            "POST", "/items", body=b'{"name": "tea"}', headers={"Content-Type": "application/json"}
        )
        created = connection.getresponse()
        item = json.loads(created.read())
        connection.request("GET", f"/items/{item['id']}")
        fetched = connection.getresponse()
        assert (created.status, fetched.status) == (201, 200)
        assert json.loads(fetched.read())["name"] == "tea"
        connection.close()
    status, stderr = served.status, served.stderr
    assert status == 0, stderr
    assert "POST /items 201 " in stderr


@pytest.mark.parametrize("fmt", ["alb", "alb-multi"])
def test_alb_takes_a_request_body_of_1_mb_at_most(fmt: str) -> None:
    # "Lambda functions as targets": an ALB hands the function at most 1 MB of request body.
    app = EchoApp()
    limit = 1024 * 1024
    with serving(app, fmt) as client:
        over, _, _ = client.request("POST", "/cookies", body=bytes(limit + 1))
        # The oversized body was read and dropped: the same connection serves the next one.
        at, _, answer = client.request("POST", "/cookies", body=bytes(limit))
        # 800 KB echoed is over 1 MB once base64 in the result: the handler answers 502.
        echoed, _, _ = client.request("POST", "/binary", body=bytes(800 * 1024))
    assert (over, at, answer, echoed) == (413, 201, b"cookies set", 502)
    assert app.requests == 2
