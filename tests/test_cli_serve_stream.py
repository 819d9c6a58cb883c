"""``mangum-like serve --invoke-mode response_stream``: responses streamed to the client, chunked.

Real sockets on 127.0.0.1 (ephemeral ports, bounded waits). The server runs in a thread of the
test, except for the end-to-end test, which starts ``python -m mangum_like serve`` with
``MANGUM_LIKE_INVOKE_MODE`` set, as a developer would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import json
import logging
import os
import signal
import socket
import struct
import sys
import time
from typing import Any

import pytest

from examples.sse_streaming.app import handler as sse_handler
from mangum_like import Mangum
from mangum_like._cli import STREAMED, DevServer, Function, StreamedResponse, main
from mangum_like._types import Receive, Scope, Send

from .cli_apps import EchoApp, StreamingApp, lambda_handler, large_part
from .serve_process import ROOT, serve_process
from .test_cli_serve import cli_logging, serving, values

__all__ = ["cli_logging"]  # a fixture, used by name

STREAM = "response_stream"
URL_PORT = ("--format", "url", "--port", "0")
EVENTS = [f"id: {index}\ndata: event {index}\n\n".encode() for index in range(5)]


@dataclasses.dataclass
class Streamed:
    """One response as read off the socket: each chunk with the time it arrived."""

    status: int
    headers: list[tuple[str, str]]
    chunks: list[tuple[float, bytes]]
    complete: bool  # the last (empty) chunk arrived

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.chunks)


def read_streamed(port: int, target: str, *, seconds: float = 10.0) -> Streamed:
    """GET ``target`` on a fresh connection and read the chunked response chunk by chunk."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as sock:
        started = time.monotonic()
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        reader = sock.makefile("rb")
        status = int(reader.readline().split()[1])
        headers = []
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        assert ("transfer-encoding", "chunked") in headers, headers
        chunks: list[tuple[float, bytes]] = []
        complete = False
        try:
            while size_line := reader.readline():
                size = int(size_line, 16)
                if size == 0:
                    complete = reader.readline() == b"\r\n"
                    break
                data = reader.read(size)
                if len(data) < size or reader.read(2) != b"\r\n":
                    break  # cut off inside a chunk
                chunks.append((time.monotonic() - started, data))
        except ConnectionResetError:
            pass
        reader.close()
    return Streamed(status, headers, chunks, complete)


def header(response: Streamed, name: str) -> list[str]:
    return [value for key, value in response.headers if key == name]


@pytest.fixture(params=STREAMED)
def fmt(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


class TestStreamedResponses:
    """Each format whose service can stream, on asyncio and trio."""

    def test_events_reach_the_client_as_the_app_sends_them(self, fmt: str, backend: str) -> None:
        with serving(StreamingApp(), fmt, backend=backend, invoke_mode=STREAM) as client:
            got = read_streamed(client.port, "/sse?n=5&interval=0.25")
        assert (got.status, got.complete) == (200, True)
        assert header(got, "content-type") == ["text/event-stream"]
        assert header(got, "content-length") == []
        # One HTTP chunk per ASGI body message, as text (no base64).
        assert [data for _, data in got.chunks] == EVENTS
        first, last = got.chunks[0][0], got.chunks[-1][0]
        # The first event is out long before the last: 4 intervals of 0.25 s lie between them.
        assert last - first >= 0.9
        assert first < 0.5

    def test_large_binary_beyond_the_buffered_limit(self, fmt: str, backend: str) -> None:
        expected = b"".join(large_part(index) for index in range(8)) + b"tail"
        with serving(StreamingApp(), fmt, backend=backend, invoke_mode=STREAM) as client:
            status, headers, body = client.request("GET", "/large?mb=8")
        assert status == 200
        assert values(headers, "transfer-encoding") == ["chunked"]
        assert values(headers, "content-type") == ["application/octet-stream"]
        assert len(body) == len(expected) == 8 * 1024 * 1024 + 4
        assert hashlib.sha256(body).digest() == hashlib.sha256(expected).digest()

    def test_status_headers_and_every_cookie(self, fmt: str, backend: str) -> None:
        with serving(StreamingApp(), fmt, backend=backend, invoke_mode=STREAM) as client:
            status, headers, body = client.request("GET", "/headers")
            # The connection carries the next request.
            again, _, _ = client.request("GET", "/headers")
        assert (status, body, again) == (201, b"cookies set", 201)
        assert values(headers, "set-cookie") == ["first=1; Path=/", "second=2; Path=/; HttpOnly"]
        repeated = [part for value in values(headers, "x-repeated") for part in value.split(",")]
        assert repeated == ["a", "b"]
        assert values(headers, "x-single") == ["one"]
        assert values(headers, "content-type") == ["text/plain; charset=utf-8"]
        # The body is chunked: the app's Content-Length does not frame it.
        assert values(headers, "transfer-encoding") == ["chunked"]
        assert values(headers, "content-length") == []

    def test_head_has_no_body(self, fmt: str, backend: str) -> None:
        with serving(StreamingApp(), fmt, backend=backend, invoke_mode=STREAM) as client:
            status, headers, body = client.request("HEAD", "/headers")
            after, _, after_body = client.request("GET", "/headers")
        assert (status, body) == (201, b"")
        # A HEAD response keeps the length a GET would have, and is not chunked.
        assert values(headers, "content-length") == ["11"]
        assert values(headers, "transfer-encoding") == []
        assert values(headers, "set-cookie") == ["first=1; Path=/", "second=2; Path=/; HttpOnly"]
        assert (after, after_body) == (201, b"cookies set")

    def test_failure_before_the_start_answers_500(
        self, fmt: str, backend: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        with serving(StreamingApp(), fmt, backend=backend, invoke_mode=STREAM) as client:
            status, headers, body = client.request("GET", "/fail-before")
            after, _, _ = client.request("GET", "/headers")
        assert (status, body, after) == (500, b"Internal Server Error", 201)
        assert values(headers, "transfer-encoding") == ["chunked"]
        assert "The app raised before completing the response to GET /fail-before" in caplog.text
        assert "the app failed before its response started" in caplog.text

    def test_failure_after_the_start_cuts_the_response_off(
        self, fmt: str, backend: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, "mangum_like.cli")
        with serving(StreamingApp(), fmt, backend=backend, invoke_mode=STREAM) as client:
            got = read_streamed(client.port, "/fail-after")
            with pytest.raises(http.client.IncompleteRead):
                client.request("GET", "/fail-after")
        # The head and the first chunk went out; the connection ended without the last chunk.
        assert (got.status, got.body, got.complete) == (200, b"partial", False)
        assert (
            "The streamed response to GET /fail-after failed after it started (RuntimeError: "
            "the app failed after its response started); closing the connection without the "
            "last chunk"
        ) in caplog.text
        access = [r.getMessage() for r in caplog.records if r.name == "mangum_like.cli.access"]
        assert access[0].startswith("GET /fail-after 200 ")
        assert access[0].endswith("ms (cut off)")

    def test_client_disconnect_reaches_the_app(self, fmt: str, backend: str) -> None:
        app = StreamingApp()
        with serving(app, fmt, backend=backend, invoke_mode=STREAM) as client:
            with socket.create_connection(("127.0.0.1", client.port), timeout=10) as sock:
                sock.sendall(b"GET /wait-disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
                received = b""
                deadline = time.monotonic() + 10
                while b"first" not in received and time.monotonic() < deadline:
                    received += sock.recv(65536)
            # The app waits in receive() with the response open; the client has gone.
            deadline = time.monotonic() + 10
            while not app.after_first and time.monotonic() < deadline:
                time.sleep(0.02)
            # The server goes on serving.
            status, _, _ = client.request("GET", "/headers")
        assert b"\r\n\r\n5\r\nfirst\r\n" in received
        assert app.after_first == ["http.disconnect"]
        assert status == 201


class TestSSEExample:
    """examples/sse_streaming (FastAPI's StreamingResponse) served as a streaming function URL."""

    def test_tokens_arrive_one_by_one(self) -> None:
        with serving(sse_handler, "url", invoke_mode=STREAM) as client:
            got = read_streamed(client.port, "/tokens?prompt=one+two+three+four&interval=0.25")
        assert (got.status, got.complete) == (200, True)
        assert header(got, "content-type") == ["text/event-stream; charset=utf-8"]
        tokens = [json.loads(data.split(b"data: ")[1]) for _, data in got.chunks]
        assert tokens == [{"token": t} for t in ("one", "two", "three", "four")] + [{"tokens": 4}]
        assert got.chunks[3][0] - got.chunks[0][0] >= 0.65

    def test_a_client_that_leaves_ends_the_stream(self) -> None:
        """Starlette listens for http.disconnect while it streams: it stops the generator when
        the client goes, and the function is free for the next request at once."""
        prompt = "+".join(["word"] * 200)  # 200 tokens, 0.1 s apart: 20 s if nobody stopped it
        with serving(sse_handler, "url", invoke_mode=STREAM) as client:
            with socket.create_connection(("127.0.0.1", client.port), timeout=10) as sock:
                sock.sendall(f"GET /tokens?prompt={prompt}&interval=0.1 HTTP/1.1\r\n\r\n".encode())
                received = sock.recv(65536)
            started = time.monotonic()
            status, _, body = client.request("GET", "/tokens?prompt=next&interval=0")
            elapsed = time.monotonic() - started
        assert received.startswith(b"HTTP/1.1 200 OK\r\n")
        assert status == 200
        assert b'"next"' in body
        assert elapsed < 3


class TestStreamingEdges:
    def test_rest_api_stage(self) -> None:
        with serving(StreamingApp(), "v1", stage="Prod", invoke_mode=STREAM) as client:
            status, headers, body = client.request("GET", "/Prod/headers")
            refused, _, refusal = client.request("GET", "/headers")
        assert (status, body) == (201, b"cookies set")
        assert values(headers, "transfer-encoding") == ["chunked"]
        assert (refused, json.loads(refusal)) == (403, {"message": "Forbidden"})

    def test_client_that_resets_mid_download(
        self, backend: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A client gone while the server writes: the write fails, the app sees a disconnect
        (its later messages are dropped), and the server carries on."""
        app = StreamingApp()
        with serving(app, "url", backend=backend, invoke_mode=STREAM) as client:
            with socket.create_connection(("127.0.0.1", client.port), timeout=10) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                sock.sendall(b"GET /large?mb=64 HTTP/1.1\r\nHost: x\r\n\r\n")
                received = len(sock.recv(65536))
                # Closed with unread data: the kernel resets the connection.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            started = time.monotonic()
            status, _, body = client.request("GET", "/headers")
            elapsed = time.monotonic() - started
        assert received > 0
        assert (status, body) == (201, b"cookies set")
        assert elapsed < 5  # the 64 MB were not produced for nobody
        assert app.requests == 2

    def test_buffered_mode_waits_for_the_whole_response(self) -> None:
        with serving(StreamingApp(), "url") as client:
            started = time.monotonic()
            status, headers, body = client.request("GET", "/sse?n=5&interval=0.25")
            elapsed = time.monotonic() - started
            large, _, _ = client.request("GET", "/large?mb=8")
        assert (status, body) == (200, b"".join(EVENTS))
        assert values(headers, "content-length") == [str(len(body))]
        assert elapsed >= 0.9
        assert large == 502  # over Lambda's 6 MB for a buffered response

    @pytest.mark.parametrize("fmt", ["alb", "alb-multi", "lattice-v2", "edge"])
    def test_formats_that_cannot_stream_answer_buffered(self, fmt: str) -> None:
        with serving(StreamingApp(), fmt, invoke_mode=STREAM) as client:
            status, headers, body = client.request("GET", "/sse?n=3&interval=0")
        assert (status, body) == (200, b"".join(EVENTS[:3]))
        assert values(headers, "transfer-encoding") == []
        if fmt != "edge":  # CloudFront sets Content-Length itself
            assert values(headers, "content-length") == [str(len(body))]

    def test_plain_handler_answers_buffered(self) -> None:
        with serving(lambda_handler, "url", invoke_mode=STREAM) as client:
            status, headers, body = client.request("GET", "/tea")
        assert (status, body) == (418, b"short and stout")
        assert values(headers, "set-cookie") == ["a=1", "b=2"]
        assert values(headers, "transfer-encoding") == []

    def test_event_a_custom_handler_takes_answers_buffered(self) -> None:
        handler = Mangum(StreamingApp(), custom_handlers=[WholeUrlHandler])
        with serving(handler, "url", invoke_mode=STREAM) as client:
            status, headers, body = client.request("GET", "/custom")
            streamed, streamed_headers, _ = client.request("GET", "/headers")
            unserialisable, _, _ = client.request("GET", "/custom?bad")
        assert (status, body) == (202, b"handled by a custom handler")
        assert unserialisable == 502  # the result fails as Lambda fails it (Runtime.MarshalError)
        assert values(headers, "content-length") == [str(len(body))]
        assert values(headers, "transfer-encoding") == []
        assert streamed == 201
        assert values(streamed_headers, "transfer-encoding") == ["chunked"]

    @pytest.mark.parametrize("status", [204, 304])
    def test_status_without_a_body(self, status: int) -> None:
        with serving(StreamingApp(), "url", invoke_mode=STREAM) as client:
            answered, headers, body = client.request("GET", f"/status/{status}")
            after, _, _ = client.request("GET", "/headers")
        assert (answered, body, after) == (status, b"", 201)
        assert values(headers, "transfer-encoding") == values(headers, "content-length") == []

    def test_invalid_status_answers_502(self, caplog: pytest.LogCaptureFixture) -> None:
        with serving(StreamingApp(), "url", invoke_mode=STREAM) as client:
            status, _, body = client.request("GET", "/status/1000")
            after, _, _ = client.request("GET", "/headers")
        assert (status, json.loads(body), after) == (502, {"message": "Internal server error"}, 201)
        assert "Malformed streaming prelude (the result's statusCode must be an HTTP status" in (
            caplog.text
        )

    def test_cut_off_at_the_streaming_limit(self, caplog: pytest.LogCaptureFixture) -> None:
        app = StreamingApp()
        with serving(app, "url", invoke_mode=STREAM) as client:
            client.server.stream_limit = 2 * 1024 * 1024
            got = read_streamed(client.port, "/large?mb=4")
        assert (got.status, got.complete) == (200, False)
        assert got.body == large_part(0) + large_part(1)
        assert "passed Lambda's 2097152-byte limit for a streamed response" in caplog.text

    def test_failing_startup_answers_502(self, caplog: pytest.LogCaptureFixture) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await receive()
                await send({"type": "lifespan.startup.failed", "message": "no database"})

        with serving(Mangum(app, lifespan="on"), "url", invoke_mode=STREAM, start=False) as client:
            status, _, body = client.request("GET", "/")
        assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
        assert "The function failed (LifespanFailure" in caplog.text

    def test_handler_failing_after_the_start(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        handler = Mangum(StreamingApp())

        def stream(event: Any, context: Any, out: StreamedResponse) -> None:
            out.start(json.dumps({"statusCode": 200, "cookies": []}).encode() + b"\0" * 8)
            out.write(b"half")
            raise OSError("the handler lost its way")

        monkeypatch.setattr(handler, "stream", stream)
        with serving(handler, "url", invoke_mode=STREAM) as client:
            got = read_streamed(client.port, "/")
        assert (got.status, got.body, got.complete) == (200, b"half", False)
        assert "failed after it started (OSError: the handler lost its way)" in caplog.text

    def test_http_1_0_client_reads_to_the_end_of_the_connection(self) -> None:
        with (
            serving(StreamingApp(), "url", invoke_mode=STREAM) as client,
            socket.create_connection(("127.0.0.1", client.port), timeout=10) as sock,
        ):
            sock.sendall(b"GET /sse?n=3&interval=0.05 HTTP/1.0\r\n\r\n")
            answer = b""
            while data := sock.recv(65536):
                answer += data
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")  # the server's version (RFC 9110 2.5)
        assert b"\r\nConnection: close" in head
        assert b"Transfer-Encoding" not in head
        assert body == b"".join(EVENTS[:3])

    def test_pipelined_requests(self) -> None:
        app = StreamingApp()
        with (
            serving(app, "url", invoke_mode=STREAM) as client,
            socket.create_connection(("127.0.0.1", client.port), timeout=10) as sock,
        ):
            sock.sendall(
                b"GET /sse?n=2&interval=0.05 HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            answer = b""
            while data := sock.recv(65536):
                answer += data
        assert answer.count(b"HTTP/1.1 200 OK\r\n") == answer.count(b"HTTP/1.1 201 Created") == 1
        assert answer.endswith(b"\r\n4\r\n set\r\n0\r\n\r\n")
        assert app.requests == 2

    def test_the_stream_method_answers_buffered_without_a_streaming_handler(self) -> None:
        function = Function(EchoApp(), base_path=None, backend=None)
        server = DevServer(function, "alb", port=0, invoke_mode=STREAM)
        try:
            assert server.streaming is None
            with pytest.raises(ValueError, match="invoke_mode must be one of"):
                DevServer(function, "url", port=0, invoke_mode="streaming")
        finally:
            server.server_close()
            function.stop()


class WholeUrlHandler:
    """A Mangum-style custom handler that takes function URL events for ``/custom``."""

    def __init__(self, event: dict[str, Any], context: Any, config: dict[str, Any]) -> None:
        self.event = event

    @classmethod
    def infer(cls, event: Any, context: Any, config: dict[str, Any]) -> bool:
        return isinstance(event, dict) and event.get("rawPath") == "/custom"

    @property
    def body(self) -> bytes:
        return b""

    @property
    def scope(self) -> dict[str, Any]:
        return {
            "type": "http",
            "method": "GET",
            "path": "/status/202",
            "raw_path": b"/status/202",
            "root_path": "",
            "query_string": b"",
            "headers": [],
        }

    def __call__(self, response: dict[str, Any]) -> dict[str, Any]:
        if self.event.get("rawQueryString") == "bad":
            return {"statusCode": 200, "body": object()}
        return {"statusCode": response["status"], "body": "handled by a custom handler"}


# -- the serve command ----------------------------------------------------------------------------


def test_invoke_mode_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cli_logging: None
) -> None:
    monkeypatch.setenv("MANGUM_LIKE_INVOKE_MODE", "streaming")
    status = main(["serve", "tests.cli_apps:streaming_app"])
    assert status == 2
    assert (
        "MANGUM_LIKE_INVOKE_MODE must be one of buffered, response_stream, got 'streaming'"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("target", "fmt", "logged"),
    [
        ("tests.cli_apps:streaming_app", "alb", "alb responses are buffered"),
        ("tests.cli_apps:lambda_handler", "url", "a plain handler's results are answered buffered"),
        ("tests.cli_apps:streaming_app", "v2", "on AWS an HTTP API buffers every response"),
        ("tests.cli_apps:streaming_app", "url", None),
    ],
)
def test_serve_says_what_will_not_stream(
    target: str,
    fmt: str,
    logged: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    cli_logging: None,
) -> None:
    """``main(["serve", ...])`` in this process, stopped at once by SIGINT."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(
        _cli_module(), "_explain_streaming", _then_interrupt(_cli_module()._explain_streaming)
    )
    status = main(["serve", target, "--port", "0", "--format", fmt, "--invoke-mode", STREAM])
    assert status == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if logged is None:
        assert warnings == []
    else:
        assert len(warnings) == 1
        assert logged in warnings[0]
    streamed = logged is None or fmt == "v2"
    assert ("events, responses streamed, on http://" in capsys.readouterr().out) is streamed


def _cli_module() -> Any:
    from mangum_like import _cli

    return _cli


def _then_interrupt(explain: Any) -> Any:
    def wrapped(server: DevServer) -> None:
        explain(server)
        os.kill(os.getpid(), signal.SIGINT)  # handled by serve: it stops

    return wrapped


def test_serve_streams_with_the_environment_variable_set() -> None:
    """``python -m mangum_like serve`` with ``MANGUM_LIKE_INVOKE_MODE=response_stream``, as the
    streaming function in template.yaml sets it: SSE events reach curl-like clients in time."""
    env = dict(os.environ, MANGUM_LIKE_INVOKE_MODE=STREAM)
    args = [sys.executable, "-m", "mangum_like", "serve", "tests.cli_apps:streaming_app", *URL_PORT]
    with serve_process(args, env=env) as served:
        assert "as Lambda function URL events, responses streamed, on http://" in served.line
        got = read_streamed(served.port, "/sse?n=4&interval=0.25")
    status, stderr = served.status, served.stderr
    assert status == 0, stderr
    assert [data for _, data in got.chunks] == EVENTS[:4]
    assert got.chunks[-1][0] - got.chunks[0][0] >= 0.65
    assert "GET /sse?n=4&interval=0.25 200 " in stderr
