"""The runtime loop's parts checked in this process: serialisation and the context object
(``mangum_like._lambda``) against the official client's own code, the error document, handler
loading, log records, and the loop and its streamed responses against the Runtime API emulator
(the subprocess tests are in test_lambda_runtime.py).
"""

from __future__ import annotations

import base64
import copy
import http.client
import io
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from awslambdaric import lambda_context, lambda_runtime_marshaller  # type: ignore[import-untyped]

from mangum_like import Mangum
from mangum_like._lambda.errors import CALLERS, FaultError, error_result
from mangum_like._lambda.logs import TelemetryLogHandler, setup_logging
from mangum_like._lambda.payload import escapes_non_ascii, to_json
from mangum_like._lambda.rapi import Connection, RuntimeAPIError, read_answer
from mangum_like.runtime import (
    LambdaContext,
    RuntimeLoop,
    StreamedResponse,
    load_handler,
    main,
    make_handler,
)
from tests.helpers import Recorder
from tests.lambda_emulator import Invocation, RuntimeAPIEmulator


@pytest.fixture(autouse=True)
def _trace_id_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop sets ``_X_AMZN_TRACE_ID`` for each invocation, as Lambda's runtime does, and the
    execution environment reads it as "Init is over": each test leaves it as it found it."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "")
    monkeypatch.delenv("_X_AMZN_TRACE_ID")


VALUES: list[Any] = [
    {"statusCode": 200, "headers": {"a": "b"}, "body": "ok", "isBase64Encoded": False},
    'h\u00e9llo \u2713 \U0001f600 \u2028 "quoted" \\ / \n\t\x01\x7f',
    {"keys": {2: "int", 1.5: "float", True: "bool", None: "none"}},
    [0.1 + 0.2, 1e300, -0.0, 10**30, float("inf"), float("-inf")],
    {"decimal": Decimal("1.10"), "exp": Decimal("1E+2"), "nan": Decimal("NaN")},
    [Decimal("-0.000"), {"nested": [Decimal("3"), "x"]}],
    {"tuple": (1, 2), "empty": [{}, [], ""]},
    None,
    True,
    12,
    "\udcff lone surrogate",
]


class TestJSONLikeTheOfficialClient:
    @pytest.mark.parametrize("value", VALUES, ids=[f"value{i}" for i in range(len(VALUES))])
    @pytest.mark.parametrize("runtime", ["AWS_Lambda_python3.12", "AWS_Lambda_python3.11"])
    def test_same_text(self, value: Any, runtime: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AWS_EXECUTION_ENV", runtime)
        official = lambda_runtime_marshaller.to_json(value)
        assert to_json(value, runtime.endswith("3.11")) == official

    def test_nan_is_written_as_the_official_client_writes_it(self) -> None:
        assert to_json([float("nan"), Decimal("sNaN")], True) == "[NaN, NaN]"

    def test_unserialisable(self) -> None:
        with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
            to_json({"a": {1}}, True)

    def test_a_string_like_the_placeholder_survives(self) -> None:
        value = {"mark": "\x00mangum_like.decimal\x00", "d": Decimal("2.50")}
        assert json.loads(to_json(value, True))["mark"] == value["mark"]

    @pytest.mark.parametrize(
        ("execution_env", "escapes"),
        [("AWS_Lambda_python3.11", True), ("AWS_Lambda_python3.12", False), (None, True)],
    )
    def test_runtimes_that_escape_non_ascii(self, execution_env: str | None, escapes: bool) -> None:
        assert escapes_non_ascii(execution_env) is escapes


class TestContext:
    ENV: ClassVar[dict[str, str]] = {
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "7",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/21/[7]abc",
    }

    @pytest.mark.parametrize(
        ("client_context", "identity"),
        [
            (None, None),
            ({"custom": {"k": "v"}, "env": {"e": 1}}, {"cognitoIdentityId": "id"}),
            (
                {"client": {"installation_id": "i", "app_package_name": "p"}},
                {"cognitoIdentityId": "id", "cognitoIdentityPoolId": "pool"},
            ),
            # The W3C trace context of awslambdaric 4.2: strings of three fields only.
            (
                {
                    "custom": {"k": "v"},
                    "w3c": {
                        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                        "tracestate": "rojo=00f067aa0ba902b7",
                        "baggage": 7,
                        "other": "x",
                    },
                },
                None,
            ),
            ({"w3c": "not an object"}, None),
        ],
    )
    def test_like_the_official_context(
        self, client_context: Any, identity: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name, value in self.ENV.items():
            monkeypatch.setenv(name, value)
        deadline = 2_000_000_000_000
        arn = "arn:aws:lambda:eu-west-1:1:function:fn"
        official = lambda_context.LambdaContext(
            "req", copy.deepcopy(client_context), identity, deadline, arn, "tenant"
        )
        ours = LambdaContext(
            "req", deadline, arn, copy.deepcopy(client_context), identity, "tenant", dict(self.ENV)
        )
        assert repr(ours) == repr(official)
        assert ours.w3c() == official.w3c()
        for name in ("function_name", "memory_limit_in_mb", "log_stream_name", "tenant_id"):
            assert getattr(ours, name) == getattr(official, name)
        assert (
            abs(ours.get_remaining_time_in_millis() - official.get_remaining_time_in_millis()) < 50
        )

    def test_remaining_time_is_never_negative(self) -> None:
        assert LambdaContext("req", 1000, environ={}).get_remaining_time_in_millis() == 0

    def test_log_writes_to_stdout(self, capsys: pytest.CaptureFixture[str]) -> None:
        LambdaContext("req", 0, environ={}).log("a line\n")
        assert capsys.readouterr().out == "a line\n"


@pytest.fixture
def task_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for handler modules written by the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in list(sys.modules):
        if name.startswith("task_"):
            del sys.modules[name]


class TestLoadHandler:
    def test_dotted_and_colon_forms(self, task_root: Path) -> None:
        (task_root / "task_ok.py").write_text(
            "def handler(event, context):\n    return event\n\nclass Holder:\n    attr = handler\n"
        )
        assert load_handler("task_ok.handler")(1, None) == 1
        assert load_handler("task_ok:handler")(2, None) == 2
        assert load_handler("task_ok:Holder.attr")(3, None) == 3

    def test_path_form(self, task_root: Path) -> None:
        (task_root / "task_pkg").mkdir()
        (task_root / "task_pkg" / "__init__.py").write_text("")
        (task_root / "task_pkg" / "app.py").write_text("handler = 'found'\n")
        assert load_handler("task_pkg/app.handler") == "found"

    @pytest.mark.parametrize(
        ("name", "error_type"),
        [
            ("nodots", "Runtime.MalformedHandlerName"),
            (":attr", "Runtime.MalformedHandlerName"),
            ("module.", "Runtime.MalformedHandlerName"),
            ("sys.path", "Runtime.BuiltInModuleConflict"),
            ("task_absent.handler", "Runtime.ImportModuleError"),
            ("task_syntax.handler", "Runtime.UserCodeSyntaxError"),
            ("task_ok2.absent", "Runtime.HandlerNotFound"),
        ],
    )
    def test_faults(self, name: str, error_type: str, task_root: Path) -> None:
        (task_root / "task_syntax.py").write_text("def handler(:\n")
        (task_root / "task_ok2.py").write_text("x = 1\n")
        with pytest.raises(FaultError) as caught:
            load_handler(name)
        assert caught.value.error_type == error_type
        document = error_result(caught.value)
        assert document["errorType"] == error_type
        assert document["requestId"] == ""
        if error_type == "Runtime.UserCodeSyntaxError":
            assert "task_syntax.py" in document["stackTrace"][0]


async def asgi_function(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app by its signature alone: these tests only look at how it is wrapped."""
    await receive()


def three_arguments(scope: Any, receive: Any, send: Any) -> Any:
    return asgi_function(scope, receive, send)


def lambda_function(event: Any, context: Any) -> Any:
    return event


class TestMakeHandler:
    @pytest.mark.parametrize(
        "app", [asgi_function, three_arguments, Recorder()], ids=["coroutine", "three", "object"]
    )
    def test_asgi_apps_are_wrapped(self, app: Any) -> None:
        handler = make_handler(app)
        assert isinstance(handler, Mangum)
        assert handler.app is app

    @pytest.mark.parametrize("target", [lambda_function, max], ids=["function", "builtin"])
    def test_other_callables_are_handlers(self, target: Any) -> None:
        assert make_handler(target) is target

    def test_a_mangum_handler_is_used_as_it_is(self) -> None:
        handler = Mangum(Recorder())
        assert make_handler(handler) is handler

    def test_not_callable(self) -> None:
        with pytest.raises(FaultError) as caught:
            make_handler("a string")
        assert caught.value.error_type == "Runtime.HandlerNotFound"


def test_error_result_starts_at_the_first_frame_outside_the_runtime() -> None:
    try:
        json.loads("{")
    except ValueError as exc:
        document = error_result(exc, "req-1", skip={__file__})
    assert document["errorType"] == "JSONDecodeError"
    assert document["requestId"] == "req-1"
    assert "json" in document["stackTrace"][0]
    assert all(__file__ not in line for line in document["stackTrace"])


def test_error_result_leaves_out_the_frames_of_the_runtime_loop_and_the_cli() -> None:
    from mangum_like import runtime
    from mangum_like._cli import _function, _server

    assert {runtime.__file__, _function.__file__, _server.__file__} == CALLERS


def test_error_result_keeps_every_frame_when_all_are_the_runtime_s() -> None:
    def fail() -> None:
        raise KeyError("missing")

    try:
        fail()
    except KeyError as exc:
        document = error_result(exc, skip={__file__})
    assert document["errorMessage"] == "'missing'"
    assert len(document["stackTrace"]) == 2


class TestReadAnswer:
    def test_content_length(self) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        assert read_answer(io.BytesIO(answer)) == (
            200,
            {"content-type": "application/json", "content-length": "2"},
            b"{}",
        )

    def test_chunked_with_trailers(self) -> None:
        answer = (
            b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n"
        )
        status, _, body = read_answer(io.BytesIO(answer))
        assert (status, body) == (202, b"abcde")

    def test_no_body(self) -> None:
        assert read_answer(io.BytesIO(b"HTTP/1.1 204 No Content\n\n")) == (204, {}, b"")

    @pytest.mark.parametrize(
        ("answer", "error"),
        [
            (b"", http.client.RemoteDisconnected),
            (b"garbage\r\n\r\n", http.client.BadStatusLine),
            (b"HTTP/1.1 abc\r\n\r\n", http.client.BadStatusLine),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", http.client.IncompleteRead),
        ],
        ids=["closed", "not-http", "bad-status", "short-body"],
    )
    def test_broken_answers(self, answer: bytes, error: type[Exception]) -> None:
        with pytest.raises(error):
            read_answer(io.BytesIO(answer))


def test_connection_close_answer_closes_the_connection() -> None:
    """An API that answers ``Connection: close`` gets a new connection for the next request."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[int] = []

    def serve() -> None:
        for _ in range(2):
            peer, _ = listener.accept()
            with peer:
                accepted.append(1)
                peer.recv(65536)
                peer.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve)
    thread.start()
    connection = Connection(f"127.0.0.1:{port}")
    loop = RuntimeLoop(connection, lambda_function)
    try:
        assert loop._exchange(b"GET / HTTP/1.1\r\n\r\n") == (
            200,
            {"connection": "close", "content-length": "2"},
            b"ok",
        )
        assert connection.http.sock is None
        assert loop._exchange(b"GET / HTTP/1.1\r\n\r\n")[2] == b"ok"
    finally:
        thread.join(10)
        listener.close()
        connection.close()
    assert len(accepted) == 2


# -- the loop, in this process --------------------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[RuntimeAPIEmulator]:
    with RuntimeAPIEmulator() as emulator:
        yield emulator


@pytest.fixture
def connection(emulator: RuntimeAPIEmulator) -> Iterator[Connection]:
    connection = Connection(emulator.address)
    yield connection
    connection.close()


def serve(
    loop: RuntimeLoop, emulator: RuntimeAPIEmulator, event: Any, **options: Any
) -> Invocation:
    """Submit ``event`` and let ``loop`` serve exactly that invocation."""
    invocation = emulator.submit(event, **options)
    loop.serve_one()
    return emulator.wait(invocation, 10)


class TestLoopInProcess:
    def test_unreadable_event_is_an_unmarshal_error(
        self, emulator: RuntimeAPIEmulator, connection: Connection
    ) -> None:
        loop = RuntimeLoop(connection, lambda_function)
        invocation = serve(loop, emulator, b"{not json")
        assert invocation.kind == "error"
        assert invocation.json()["errorType"] == "Runtime.UnmarshalError"

    def test_bad_client_context_is_a_context_error(
        self, emulator: RuntimeAPIEmulator, connection: Connection
    ) -> None:
        loop = RuntimeLoop(connection, lambda_function)
        invocation = emulator.submit({})
        invocation.next_headers["Lambda-Runtime-Client-Context"] = "{broken"
        loop.serve_one()
        emulator.wait(invocation, 10)
        assert invocation.json()["errorType"] == "Runtime.LambdaContextUnmarshalError"

    def test_event_of_another_content_type_is_passed_as_bytes(
        self, emulator: RuntimeAPIEmulator, connection: Connection
    ) -> None:
        loop = RuntimeLoop(connection, lambda f, c: {"got": repr(f)})
        invocation = emulator.submit({})
        invocation.next_headers["Content-Type"] = "application/octet-stream"
        invocation.event = b"\x01\x02"
        loop.serve_one()
        emulator.wait(invocation, 10)
        assert invocation.json() == {"got": "b'\\x01\\x02'"}

    @pytest.mark.parametrize("then", ["returns", "raises"])
    def test_refused_answer_is_logged(
        self,
        emulator: RuntimeAPIEmulator,
        connection: Connection,
        caplog: pytest.LogCaptureFixture,
        then: str,
    ) -> None:
        def answer_first(event: Any, context: Any) -> Any:
            # The invocation is answered behind the runtime's back: its own answer is refused.
            other = Connection(emulator.address)
            path = f"/2018-06-01/runtime/invocation/{context.aws_request_id}/response"
            other.request("POST", path, b'"first"')
            other.close()
            if then == "raises":
                raise ValueError("too late")
            return "second"

        loop = RuntimeLoop(connection, answer_first)
        with caplog.at_level(logging.ERROR, "mangum_like.runtime"):
            invocation = serve(loop, emulator, {})
        assert invocation.body == b'"first"'
        what = "result" if then == "returns" else "error"
        assert f"refused the {what} of invocation" in caplog.text

    def test_run_serves_a_number_of_invocations(
        self, emulator: RuntimeAPIEmulator, connection: Connection
    ) -> None:
        loop = RuntimeLoop(connection, lambda_function)
        invocations = [emulator.submit({"n": n}) for n in range(3)]
        loop.run(limit=3)
        assert [emulator.wait(i, 10).json() for i in invocations] == [{"n": n} for n in range(3)]

    def test_connection_closed_by_the_api_is_reopened(
        self, emulator: RuntimeAPIEmulator, connection: Connection
    ) -> None:
        loop = RuntimeLoop(connection, lambda_function)
        assert serve(loop, emulator, {"n": 1}).json() == {"n": 1}
        # The kept-alive connection is gone (the API closed it): the next exchange reopens it.
        ours, theirs = socket.socketpair()
        theirs.close()
        assert connection.http.sock is not None
        connection.http.sock.close()
        connection.http.sock = ours
        assert serve(loop, emulator, {"n": 2}).json() == {"n": 2}

    def test_next_refused(self, emulator: RuntimeAPIEmulator, connection: Connection) -> None:
        loop = RuntimeLoop(connection, lambda_function)
        emulator._closing.set()
        with pytest.raises(RuntimeAPIError, match="answered 500"):
            loop.serve_one()

    def test_stream_that_raises_after_starting(
        self,
        emulator: RuntimeAPIEmulator,
        connection: Connection,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """An error that escapes the pipeline after the stream started ends the stream with the
        error trailers, and the connection carries the next invocation."""

        def invoke(handler: Any, event: Any, context: Any, sink: Any) -> None:
            sink.stream.start(b'{"statusCode":200}' + b"\0" * 8)
            sink.stream.write(b"part")
            raise OSError("the app's own socket broke")

        loop = RuntimeLoop(connection, Mangum(Recorder()), "response_stream")
        with monkeypatch.context() as patch:
            patch.setattr(loop, "_invoke", invoke)  # the pipeline the loop bound at its start
            invocation = serve(loop, emulator, {})
        assert invocation.body.endswith(b"part")
        assert invocation.trailers["Lambda-Runtime-Function-Error-Type"] == "OSError"
        error = json.loads(
            base64.b64decode(invocation.trailers["Lambda-Runtime-Function-Error-Body"])
        )
        assert error["errorMessage"] == "the app's own socket broke"
        # The same connection carries the next invocation.
        loop = RuntimeLoop(connection, lambda_function, "response_stream")
        assert serve(loop, emulator, {"next": 1}).json() == {"next": 1}


class TestStreamedResponse:
    def test_large_chunks_and_empty_chunks(
        self, emulator: RuntimeAPIEmulator, connection: Connection
    ) -> None:
        invocation = emulator.submit({})
        connection.request("GET", "/2018-06-01/runtime/invocation/next")
        writer = StreamedResponse(connection, invocation.request_id)
        big = bytes(range(256)) * 1024  # 256 KiB: written without a copy
        writer.start(b"{}" + b"\0" * 8)
        writer.write(b"")
        writer.write(big)
        writer.end()
        writer.end()  # once only
        emulator.wait(invocation, 10)
        assert invocation.body == b"{}" + b"\0" * 8 + big
        assert [len(chunk) for _, chunk in invocation.chunks] == [10, len(big)]

    def test_cut_connection(self, emulator: RuntimeAPIEmulator, connection: Connection) -> None:
        invocation = emulator.submit({}, cut_after=10)
        connection.request("GET", "/2018-06-01/runtime/invocation/next")
        writer = StreamedResponse(connection, invocation.request_id)
        writer.start(b"{}" + b"\0" * 8)
        emulator.wait(invocation, 10)
        with pytest.raises(ConnectionError):
            for _ in range(1000):  # the first writes may still fit in the socket buffers
                writer.write(b"x" * 65536)
        assert writer.broken and writer.finished
        writer.fail(RuntimeError("too late"))  # nothing left to end: a no-op
        with pytest.raises(ConnectionError):
            StreamedResponse(connection, invocation.request_id)._finish(b"0\r\n\r\n")

    def test_start_on_an_unreachable_api(self) -> None:
        connection = Connection("127.0.0.1:9")  # discard port: nothing listens
        writer = StreamedResponse(connection, "req")
        with pytest.raises(OSError):
            writer.start(b"{}")
        assert writer.broken
        connection.close()

    def test_refused_stream_is_logged(
        self, connection: Connection, caplog: pytest.LogCaptureFixture
    ) -> None:
        writer = StreamedResponse(connection, "unknown-request")
        writer.start(b"{}" + b"\0" * 8)
        with caplog.at_level(logging.ERROR, "mangum_like.runtime"):
            writer.end()
        assert "refused the streamed response of invocation unknown-request: 400" in caplog.text


# -- main(), in this process ---------------------------------------------------------------------


class TestMain:
    def test_outside_lambda(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
        with pytest.raises(SystemExit) as caught:
            main(["anything.handler"])
        assert caught.value.code == 2
        assert "runs inside AWS Lambda (or a Runtime API emulator) only" in capsys.readouterr().err

    def test_no_handler(
        self, emulator: RuntimeAPIEmulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", emulator.address)
        monkeypatch.delenv("_HANDLER", raising=False)
        monkeypatch.setenv("LAMBDA_TASK_ROOT", "/nonexistent-task-root")
        monkeypatch.setattr(sys, "path", list(sys.path))
        with pytest.raises(SystemExit) as caught:
            main([])
        assert caught.value.code == 1
        assert sys.path[0] == "/nonexistent-task-root"
        report = emulator.init_errors[0]
        assert report.json()["errorType"] == "Runtime.MalformedHandlerName"

    def test_serves_until_the_api_ends(
        self, emulator: RuntimeAPIEmulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", emulator.address)
        monkeypatch.setenv("_HANDLER", "tests.test_runtime_module.lambda_function")
        failures: list[BaseException] = []

        def run() -> None:
            try:
                main()
            except BaseException as exc:
                failures.append(exc)

        monkeypatch.setattr(sys, "argv", ["mangum_like.runtime"])
        thread = threading.Thread(target=run)
        thread.start()
        assert emulator.invoke({"hello": 1}).json() == {"hello": 1}
        emulator._closing.set()
        thread.join(10)
        assert not thread.is_alive()
        assert isinstance(failures[0], RuntimeAPIError)


class TestLogging:
    @pytest.fixture
    def root(self) -> Iterator[logging.Logger]:
        """A root logger as a fresh runtime process has it: no handler, the default level."""
        root = logging.Logger("root", logging.WARNING)
        yield root
        for handler in root.handlers:
            handler.close()

    def test_records_go_to_the_telemetry_pipe_one_frame_each(
        self, root: logging.Logger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        read_end, write_end = os.pipe()
        monkeypatch.setenv("_LAMBDA_TELEMETRY_LOG_FD", str(write_end))
        monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "info")
        setup_logging(lambda: "req-1", root)
        assert "_LAMBDA_TELEMETRY_LOG_FD" not in os.environ  # consumed, as the official client does
        assert root.level == logging.INFO
        before = time.time()
        root.error("two\nlines")
        root.info("one line")
        root.debug("not this one")
        with os.fdopen(read_end, "rb") as pipe:
            frames = []
            for _ in range(2):
                header = pipe.read(16)
                kind, length, stamp = (
                    int.from_bytes(header[:4], "big"),
                    int.from_bytes(header[4:8], "big"),
                    int.from_bytes(header[8:], "big"),
                )
                frames.append((kind, stamp, pipe.read(length).decode()))
            root.handlers[0].close()
            assert pipe.read() == b""  # nothing else: the DEBUG record was filtered out
        (error_kind, error_stamp, error_text), (info_kind, _, info_text) = frames
        assert (error_kind, info_kind) == (0xA55A0017, 0xA55A000F)
        assert (before - 1) * 1e6 < error_stamp < (time.time() + 1) * 1e6
        assert error_text.startswith("[ERROR]\t") and error_text.endswith("\treq-1\ttwo\nlines")
        assert info_text.endswith("\treq-1\tone line")

    def test_without_a_pipe_records_go_to_stdout(
        self, root: logging.Logger, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("_LAMBDA_TELEMETRY_LOG_FD", raising=False)
        monkeypatch.delenv("AWS_LAMBDA_LOG_LEVEL", raising=False)
        setup_logging(lambda: "req-1", root)
        [handler] = root.handlers
        assert type(handler) is logging.StreamHandler
        assert root.level == logging.WARNING  # untouched without AWS_LAMBDA_LOG_LEVEL

    def test_a_configured_root_logger_is_left_alone(self, root: logging.Logger) -> None:
        existing = logging.NullHandler()
        root.addHandler(existing)
        setup_logging(lambda: "req-1", root)
        assert root.handlers == [existing]

    def test_unwritable_pipe(self) -> None:
        read_end, write_end = os.pipe()
        os.close(read_end)
        errors: list[logging.LogRecord] = []

        class Recording(TelemetryLogHandler):
            def handleError(self, record: logging.LogRecord) -> None:
                errors.append(record)

        handler = Recording(write_end)
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "lost", None, None)
        handler.emit(record)  # EPIPE: handed to handleError, not raised
        assert errors == [record]
        handler.close()
        handler.close()
