"""``Mangum.stream``: one request whose response goes to a stream as the app sends it.

Contract: DESIGN.md section 5 (response streaming) and section 4 (faults). The stream here records
what the runtime's would send; the runtime's own stream is tested end to end in
test_lambda_runtime.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from mangum_like import Mangum, UnsupportedEvent
from mangum_like._types import Message, Receive, Scope, Send

from .helpers import Context, Recorder, load_event

MakeHandler = Callable[..., Mangum]
URL_EVENT = "powertools/function-url/lambdaFunctionUrlEvent.json"
REST_EVENT = "powertools/apigw-rest-v1/getting_started_rest_api_resolver.json"
DELIMITER = b"\0" * 8


class RecordingStream:
    """A response stream that keeps what it is sent; it can be told to fail at some point."""

    def __init__(self, fail_at: str | None = None, fail_after: int = 0) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail_at = fail_at
        self.fail_after = fail_after

    def _check(self, what: str) -> None:
        if self.fail_at == what:
            if self.fail_after <= 0:
                raise ConnectionResetError("the client went away")
            self.fail_after -= 1

    def start(self, prelude: bytes) -> None:
        self._check("start")
        self.calls.append(("start", prelude))

    def write(self, chunk: bytes) -> None:
        self._check("write")
        self.calls.append(("write", bytes(chunk)))

    def end(self) -> None:
        self._check("end")
        self.calls.append(("end", None))

    def fail(self, error: BaseException) -> None:
        self._check("fail")
        self.calls.append(("fail", error))

    @property
    def prelude(self) -> dict[str, Any]:
        kind, data = self.calls[0]
        assert kind == "start"
        metadata, delimiter, rest = data.partition(DELIMITER)
        assert (delimiter, rest) == (DELIMITER, b"")
        result: dict[str, Any] = json.loads(metadata)
        return result

    @property
    def body(self) -> bytes:
        return b"".join(data for kind, data in self.calls if kind == "write")

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


def url_event(**changes: Any) -> dict[str, Any]:
    return load_event(URL_EVENT, **changes)


def chunked_app(chunks: list[bytes], status: int = 200) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await receive()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1")],
            }
        )
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


class TestStream:
    def test_prelude_then_each_chunk(self, make_handler: MakeHandler, backend: str) -> None:
        stream = RecordingStream()
        handler = make_handler(chunked_app([b"one", b"two", b"three"]), backend=backend)
        assert handler.stream(url_event(), Context(), stream) is None
        assert stream.prelude == {
            "statusCode": 200,
            "headers": {"content-type": "text/plain"},
            "cookies": ["a=1"],
        }
        assert stream.kinds == ["start", "write", "write", "write", "end"]
        assert stream.body == b"onetwothree"

    @pytest.mark.parametrize(("chunks", "status"), [([b"x"], 200), ([], 404)])
    def test_one_access_line(
        self,
        make_handler: MakeHandler,
        backend: str,
        caplog: pytest.LogCaptureFixture,
        chunks: list[bytes],
        status: int,
    ) -> None:
        handler = make_handler(chunked_app(chunks, status=status), backend=backend)
        with caplog.at_level(logging.INFO, "mangum_like.http"):
            handler.stream(url_event(), Context(), RecordingStream())
        [record] = [r for r in caplog.records if r.name == "mangum_like.http"]
        assert record.getMessage().startswith(f"GET / {status} ")
        assert record.getMessage().endswith("ms (streamed)")

    def test_no_access_line_unless_info_is_on(
        self, make_handler: MakeHandler, backend: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        handler = make_handler(chunked_app([b"x"]), backend=backend)
        with caplog.at_level(logging.WARNING, "mangum_like.http"):
            handler.stream(url_event(), Context(), RecordingStream())
        assert [r for r in caplog.records if r.name == "mangum_like.http"] == []

    def test_rest_api_prelude(self, make_handler: MakeHandler, backend: str) -> None:
        stream = RecordingStream()
        handler = make_handler(chunked_app([b"x"], status=202), backend=backend)
        handler.stream(load_event(REST_EVENT), Context(), stream)
        assert stream.prelude == {
            "statusCode": 202,
            "headers": {"content-type": "text/plain", "set-cookie": "a=1"},
            "multiValueHeaders": {},
        }

    def test_lifespan_state_reaches_the_request(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        app = Recorder(lifespan_state={"db": "pool"})
        stream = RecordingStream()
        make_handler(app, backend=backend).stream(url_event(), Context(), stream)
        assert app.scope["state"] == {"db": "pool"}
        assert app.lifespan_events == ["lifespan.startup"]
        assert stream.body == b"ok"

    def test_source_that_cannot_stream_answers_buffered(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        stream = RecordingStream()
        handler = make_handler(Recorder(), backend=backend)
        alb = load_event("aws-lambda-go/alb-single/alb-lambda-target-request-headers-only.json")
        result = handler.stream(alb, Context(), stream)
        assert result is not None
        assert result["statusCode"] == 200
        assert stream.calls == []

    def test_non_http_event_raises_as_the_handler_does(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        with pytest.raises(UnsupportedEvent):
            make_handler(Recorder(), backend=backend).stream(
                {"Records": []}, Context(), RecordingStream()
            )

    def test_head_sends_the_prelude_only(self, make_handler: MakeHandler, backend: str) -> None:
        event = url_event()
        event["requestContext"]["http"]["method"] = "HEAD"
        stream = RecordingStream()
        make_handler(chunked_app([b"body"]), backend=backend).stream(event, Context(), stream)
        assert stream.kinds == ["start", "end"]
        assert stream.prelude["statusCode"] == 200


class TestStreamFaults:
    def test_raise_after_the_stream_was_lost(
        self, make_handler: MakeHandler, backend: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ValueError("boom")

        stream = RecordingStream(fail_at="start")
        make_handler(app, backend=backend).stream(url_event(), Context(), stream)
        assert stream.calls == []
        assert "Exception in the app serving GET / (the client had gone away)" in caplog.text

    @pytest.mark.parametrize(
        ("changes", "text"),
        [
            ({"body": "***", "isBase64Encoded": True}, b"Bad Request: the event's body"),
            ({"rawPath": None}, b"Bad Request: the event's rawPath"),
            ({"headers": "not a mapping"}, b"Bad Request: malformed event"),
        ],
        ids=["base64", "missing-field", "malformed"],
    )
    def test_bad_request_answers_400(
        self, make_handler: MakeHandler, backend: str, changes: dict[str, Any], text: bytes
    ) -> None:
        stream = RecordingStream()
        handler = make_handler(Recorder(), backend=backend)
        handler.stream(url_event(**changes), Context(), stream)
        assert stream.prelude["statusCode"] == 400
        assert stream.body.startswith(text)
        assert stream.kinds == ["start", "write", "end"]

    def test_raise_before_the_prelude_answers_500(
        self, make_handler: MakeHandler, backend: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                raise ValueError("boom")

        stream = RecordingStream()
        make_handler(app, backend=backend).stream(url_event(), Context(), stream)
        assert stream.prelude["statusCode"] == 500
        assert stream.body == b"Internal Server Error"
        assert "raised before completing the response" in caplog.text

    def test_raise_after_the_prelude_fails_the_stream(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"half", "more_body": True})
            raise ValueError("boom")

        stream = RecordingStream()
        make_handler(app, backend=backend).stream(url_event(), Context(), stream)
        assert stream.kinds == ["start", "write", "fail"]
        error = stream.calls[-1][1]
        assert isinstance(error, ValueError)

    def test_raise_after_completion_keeps_the_response(
        self, make_handler: MakeHandler, backend: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"all"})
            raise ValueError("late")

        stream = RecordingStream()
        make_handler(app, backend=backend).stream(url_event(), Context(), stream)
        assert stream.kinds == ["start", "write", "end"]
        assert (
            "Exception in the app serving GET / (raised after it had sent its 200 response, "
            "which the client got)"
        ) in caplog.text

    @pytest.mark.parametrize("started", [False, True], ids=["nothing-sent", "prelude-sent"])
    def test_returning_without_completing(
        self, make_handler: MakeHandler, backend: str, started: bool
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and started:
                await send({"type": "http.response.start", "status": 200, "headers": []})

        stream = RecordingStream()
        make_handler(app, backend=backend).stream(url_event(), Context(), stream)
        if started:
            assert stream.kinds == ["start", "fail"]
        else:
            assert stream.prelude["statusCode"] == 500

    @pytest.mark.parametrize(
        "messages",
        [
            [{"type": "http.response.body", "body": b"x"}],
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body", "body": b"x"},
                {"type": "http.response.body", "body": b"y"},
            ],
        ],
        ids=["body-first", "after-complete"],
    )
    def test_out_of_order_messages(
        self,
        make_handler: MakeHandler,
        backend: str,
        messages: list[Message],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                for message in messages:
                    await send(message)

        stream = RecordingStream()
        make_handler(app, backend=backend).stream(url_event(), Context(), stream)
        assert "UnexpectedMessage" in caplog.text
        assert stream.calls[0][0] == "start"


def listening_app(seen: list[str], chunks: int = 50) -> Any:
    """Streams chunks while it listens for the client going away, as Starlette's responses do."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        async with anyio.create_task_group() as group:

            async def listen() -> None:
                message = await receive()
                seen.append(message["type"])
                group.cancel_scope.cancel()

            group.start_soon(listen)
            for _ in range(chunks):
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
                await anyio.sleep(0.001)
            await send({"type": "http.response.body", "body": b""})

    return app


class TestLostStream:
    def test_failed_write_means_disconnect(
        self, make_handler: MakeHandler, backend: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        seen: list[str] = []
        stream = RecordingStream(fail_at="write", fail_after=3)
        make_handler(listening_app(seen), backend=backend).stream(url_event(), Context(), stream)
        assert seen == ["http.disconnect"]
        assert stream.body == b"xxx"  # nothing after the failed write
        assert stream.kinds == ["start", "write", "write", "write"]
        assert "The response stream was lost" in caplog.text
        assert "without completing" not in caplog.text

    def test_failed_start_means_disconnect(self, make_handler: MakeHandler, backend: str) -> None:
        seen: list[str] = []
        stream = RecordingStream(fail_at="start")
        make_handler(listening_app(seen), backend=backend).stream(url_event(), Context(), stream)
        assert seen == ["http.disconnect"]
        assert stream.calls == []  # the lost stream is not written to again

    def test_completed_stream_then_disconnect(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        seen: list[str] = []
        stream = RecordingStream()
        handler = make_handler(listening_app(seen, chunks=2), backend=backend)
        handler.stream(url_event(), Context(), stream)
        assert seen == ["http.disconnect"]
        assert stream.kinds == ["start", "write", "write", "end"]

    @pytest.mark.parametrize("fail_at", ["start", "fail"])
    def test_lost_while_reporting_a_failure(
        self,
        make_handler: MakeHandler,
        backend: str,
        fail_at: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            if fail_at == "fail":
                await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ValueError("boom")

        stream = RecordingStream(fail_at=fail_at)
        with caplog.at_level(logging.WARNING, "mangum_like"):
            make_handler(app, backend=backend).stream(url_event(), Context(), stream)
        assert "The response stream was lost" in caplog.text


class TestDeadlineLogLines:
    """What the log says when the deadline guard cuts a streamed request: before its prelude
    went out the client gets a 504; after it, the stream is cut, and the log says which."""

    @pytest.mark.parametrize("started", [False, True], ids=["nothing-sent", "prelude-sent"])
    def test_the_log_says_what_the_client_got(
        self,
        make_handler: MakeHandler,
        backend: str,
        started: bool,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            if started:
                await send({"type": "http.response.start", "status": 200, "headers": []})
            import anyio

            await anyio.sleep(5)

        stream = RecordingStream()
        handler = make_handler(app, backend=backend, timeout_margin=0.1)
        with caplog.at_level(logging.ERROR, logger="mangum_like"):
            handler.stream(url_event(), Context(remaining_ms=150), stream)
        [line] = [r.getMessage() for r in caplog.records if "was cut short" in r.getMessage()]
        if started:
            assert stream.kinds == ["start", "fail"]
            assert line.endswith(
                "the stream it had started was cut off (its status and headers had gone out)"
            )
        else:
            assert stream.prelude["statusCode"] == 504
            assert line.endswith("answering 504")
