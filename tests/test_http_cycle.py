"""One request through a raw ASGI app: receive, send, the collected response, and faults.

Contract: DESIGN.md section 4. ``receive()`` gives the whole body once, then ``http.disconnect``
once the response is complete; a fault before the response is complete answers 500 and logs;
the handler keeps serving on the same loop and lifespan state afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from anyio.abc import TaskStatus

from mangum_like import Mangum, UnexpectedMessage
from mangum_like._types import Message, Receive, Scope, Send

from .helpers import Context, load_event

MakeHandler = Callable[..., Mangum]
Fault = Callable[[Receive, Send], Awaitable[None]]

REST_EVENT = "powertools/apigw-rest-v1/getting_started_rest_api_resolver.json"

TEXT = [(b"content-type", b"text/plain")]
START: Message = {"type": "http.response.start", "status": 200, "headers": TEXT}

ERROR_500 = {
    "statusCode": 500,
    "headers": {"content-type": "text/plain; charset=utf-8"},
    "multiValueHeaders": {},
    "body": "Internal Server Error",
    "isBase64Encoded": False,
}
OK_200 = {
    "statusCode": 200,
    "headers": {"content-type": "text/plain"},
    "multiValueHeaders": {},
    "body": "ok",
    "isBase64Encoded": False,
}


def rest_event(**changes: Any) -> dict[str, Any]:
    """The REST API (v1) fixture event, with top-level changes."""
    return load_event(REST_EVENT, **changes)


def mangum_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "mangum_like" and record.levelno == logging.ERROR
    ]


# -- receive() ------------------------------------------------------------------------------------


class TestReceive:
    @pytest.mark.parametrize(
        ("changes", "body"),
        [
            pytest.param({}, b"", id="no-body"),
            pytest.param(
                {"httpMethod": "POST", "body": '{"todo": "write tests"}'},
                b'{"todo": "write tests"}',
                id="text",
            ),
            pytest.param(
                {"httpMethod": "POST", "body": "SGVsbG8g8J+MjQ==", "isBase64Encoded": True},
                "Hello 🌍".encode(),
                id="base64",
            ),
        ],
    )
    def test_whole_body_then_disconnect(
        self, changes: dict[str, Any], body: bytes, make_handler: MakeHandler, backend: str
    ) -> None:
        received: list[Message] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            received.append(await receive())
            await send(START)
            await send({"type": "http.response.body", "body": b"ok"})
            received.append(await receive())
            received.append(await receive())

        handler = make_handler(app, lifespan="off", backend=backend)

        result = handler(rest_event(**changes), Context())

        assert result == OK_200
        assert received == [
            {"type": "http.request", "body": body, "more_body": False},
            {"type": "http.disconnect"},
            {"type": "http.disconnect"},
        ]

    def test_receive_during_the_response_waits_for_completion(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        log: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            log.append((await receive())["type"])

            async def listen(*, task_status: TaskStatus[None]) -> None:
                task_status.started()
                message = await receive()  # Starlette's listen_for_disconnect does this
                log.append(f"listener got {message['type']}")

            async with anyio.create_task_group() as group:
                await group.start(listen)
                await send(START)
                log.append("start sent")
                await send({"type": "http.response.body", "body": b"o", "more_body": True})
                log.append("chunk sent")
                # Every other task is blocked: the listener is still waiting in receive().
                await anyio.wait_all_tasks_blocked()
                log.append("all blocked")
                log.append("sending final chunk")
                await send({"type": "http.response.body", "body": b"k", "more_body": False})

        handler = make_handler(app, lifespan="off", backend=backend)

        result = handler(rest_event(), Context())

        assert result == OK_200
        assert log == [
            "http.request",
            "start sent",
            "chunk sent",
            "all blocked",
            "sending final chunk",
            "listener got http.disconnect",
        ]

    def test_receive_before_the_response_starts_waits_for_completion(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        log: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await receive()

            async def listen(*, task_status: TaskStatus[None]) -> None:
                task_status.started()
                message = await receive()
                log.append(f"listener got {message['type']}")

            async with anyio.create_task_group() as group:
                await group.start(listen)
                await anyio.wait_all_tasks_blocked()
                log.append("all blocked")
                await send(START)
                await send({"type": "http.response.body", "body": b"ok"})

        handler = make_handler(app, lifespan="off", backend=backend)

        result = handler(rest_event(), Context())

        assert result == OK_200
        assert log == ["all blocked", "listener got http.disconnect"]


# -- the response body ----------------------------------------------------------------------------


class TestResponseBody:
    @pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
    def test_chunks_are_joined(
        self, kind: Callable[[bytes], Any], make_handler: MakeHandler, backend: str
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send(START)
            for chunk in (b"Hello", b"", b", ", b"world"):
                await send({"type": "http.response.body", "body": kind(chunk), "more_body": True})
            await send({"type": "http.response.body", "more_body": True})  # body defaults to b""
            await send({"type": "http.response.body", "body": kind(b"!"), "more_body": False})

        handler = make_handler(app, lifespan="off", backend=backend)

        result = handler(rest_event(), Context())

        assert result == {**OK_200, "body": "Hello, world!"}

    @pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
    def test_single_chunk(
        self, kind: Callable[[bytes], Any], make_handler: MakeHandler, backend: str
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send(START)
            await send({"type": "http.response.body", "body": kind(b"ok")})  # more_body: False

        handler = make_handler(app, lifespan="off", backend=backend)

        assert handler(rest_event(), Context()) == OK_200

    def test_binary_chunks_are_joined_then_encoded(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            headers = [(b"content-type", b"application/octet-stream")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"\x00\xff", "more_body": True})
            await send({"type": "http.response.body", "body": bytearray(b"\xfe\x01")})

        handler = make_handler(app, lifespan="off", backend=backend)

        result = handler(rest_event(), Context())

        assert result == {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "multiValueHeaders": {},
            "body": "AP/+AQ==",  # base64 of 00 ff fe 01
            "isBase64Encoded": True,
        }


# -- faults ---------------------------------------------------------------------------------------

CLIENT = object()


class FaultyApp:
    """Lifespan sets ``state["client"]``; the first request runs ``fault``, later ones answer ok."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.startups = 0
        self.requests = 0
        self.clients: list[object] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.startups += 1
                    scope["state"]["client"] = CLIENT
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        self.requests += 1
        if self.requests == 1:
            await self.fault(receive, send)
            return
        self.clients.append(scope["state"]["client"])
        await receive()
        await send(START)
        await send({"type": "http.response.body", "body": b"ok"})


def served_normally_next(handler: Mangum, app: FaultyApp) -> None:
    """The invocation after a fault: served on the same lifespan, its state intact."""
    assert handler(rest_event(), Context()) == OK_200
    assert app.requests == 2
    assert app.startups == 1
    assert app.clients == [CLIENT]


class Boom(Exception):
    pass


async def raise_before_start(receive: Receive, send: Send) -> None:
    await receive()
    raise Boom("before http.response.start")


async def raise_after_start(receive: Receive, send: Send) -> None:
    await send(START)
    raise Boom("after http.response.start")


async def raise_mid_body(receive: Receive, send: Send) -> None:
    await send({**START, "status": 201, "headers": [*TEXT, (b"x-partial", b"yes")]})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise Boom("in the middle of the body")


async def raise_after_complete(receive: Receive, send: Send) -> None:
    await send(START)
    await send({"type": "http.response.body", "body": b"done"})
    raise Boom("after the response was complete")


async def return_without_start(receive: Receive, send: Send) -> None:
    await receive()


async def return_after_start(receive: Receive, send: Send) -> None:
    await send(START)


async def return_mid_body(receive: Receive, send: Send) -> None:
    await send(START)
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})


async def body_before_start(receive: Receive, send: Send) -> None:
    await send({"type": "http.response.body", "body": b"ok"})


async def start_twice(receive: Receive, send: Send) -> None:
    await send(START)
    await send(START)


async def unknown_before_start(receive: Receive, send: Send) -> None:
    await send({"type": "http.response.bogus"})


async def unknown_after_start(receive: Receive, send: Send) -> None:
    await send(START)
    await send({"type": "http.response.bogus"})


def faulty_handler(
    make_handler: MakeHandler, fault: Fault, backend: str
) -> tuple[Mangum, FaultyApp]:
    app = FaultyApp(fault)
    return make_handler(app, lifespan="on", backend=backend), app


class TestExceptions:
    @pytest.mark.parametrize(
        "fault",
        [raise_before_start, raise_after_start, raise_mid_body],
        ids=lambda fault: fault.__name__,
    )
    def test_before_the_response_is_complete_answers_500(
        self,
        fault: Fault,
        make_handler: MakeHandler,
        backend: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        handler, app = faulty_handler(make_handler, fault, backend)

        result = handler(rest_event(), Context())

        assert result == ERROR_500
        [record] = mangum_errors(caplog)
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], Boom)
        assert "Traceback (most recent call last)" in caplog.text
        assert "Boom" in caplog.text
        served_normally_next(handler, app)

    def test_after_the_response_is_complete_keeps_the_response(
        self, make_handler: MakeHandler, backend: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        handler, app = faulty_handler(make_handler, raise_after_complete, backend)

        result = handler(rest_event(), Context())

        assert result == {**OK_200, "body": "done"}
        [record] = mangum_errors(caplog)
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], Boom)
        assert "after the response was complete" in caplog.text
        served_normally_next(handler, app)


class TestIncompleteResponse:
    @pytest.mark.parametrize(
        "fault",
        [return_without_start, return_after_start, return_mid_body],
        ids=lambda fault: fault.__name__,
    )
    def test_returning_without_a_complete_response_answers_500(
        self,
        fault: Fault,
        make_handler: MakeHandler,
        backend: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        handler, app = faulty_handler(make_handler, fault, backend)

        result = handler(rest_event(), Context())

        assert result == ERROR_500
        [record] = mangum_errors(caplog)
        assert record.exc_info is None  # nothing was raised: the log line itself says why
        assert "without" in record.getMessage()
        served_normally_next(handler, app)


class TestUnexpectedMessage:
    @pytest.mark.parametrize(
        "fault",
        [body_before_start, start_twice, unknown_before_start, unknown_after_start],
        ids=lambda fault: fault.__name__,
    )
    def test_answers_500_and_raises_into_the_app(
        self,
        fault: Fault,
        make_handler: MakeHandler,
        backend: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        raised: list[BaseException] = []

        async def recording(receive: Receive, send: Send) -> None:
            try:
                await fault(receive, send)
            except BaseException as exc:
                raised.append(exc)
                raise

        handler, app = faulty_handler(make_handler, recording, backend)

        result = handler(rest_event(), Context())

        assert result == ERROR_500
        [exc] = raised
        assert isinstance(exc, UnexpectedMessage)
        [record] = mangum_errors(caplog)
        assert record.exc_info is not None
        assert record.exc_info[1] is exc
        assert "UnexpectedMessage" in caplog.text
        served_normally_next(handler, app)


# -- HEAD -----------------------------------------------------------------------------------------


class TestHead:
    @pytest.mark.parametrize("sends_body", [True, False], ids=["app-sends-body", "app-sends-none"])
    def test_no_body_but_content_length_kept(
        self, sends_body: bool, make_handler: MakeHandler, backend: str
    ) -> None:
        methods: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            methods.append(scope["method"])
            headers = [*TEXT, (b"content-length", b"5")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"hello" if sends_body else b""})

        handler = make_handler(app, lifespan="off", backend=backend)
        event = rest_event(httpMethod="HEAD")
        event["requestContext"]["httpMethod"] = "HEAD"

        result = handler(event, Context())

        assert methods == ["HEAD"]
        assert result == {
            "statusCode": 200,
            "headers": {"content-type": "text/plain", "content-length": "5"},
            "multiValueHeaders": {},
            "body": "",
            "isBase64Encoded": False,
        }
