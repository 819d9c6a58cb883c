"""pass_through_path: non-HTTP events reach one app route as JSON; its answer is the result."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from mangum_like import ConfigurationError, Mangum, PassThroughFailed, UnsupportedEvent

from .helpers import Context, Recorder, load_event

MakeHandler = Callable[..., Mangum]

SQS = "powertools/non-http/sqsEvent.json"
SNS = "powertools/non-http/snsEvent.json"
S3 = "powertools/non-http/s3Event.json"
EVENTBRIDGE = "powertools/non-http/eventBridgeEvent.json"
HTTP_API = "powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json"


def events_app() -> FastAPI:
    """An app that handles SQS batches (failing the messages whose body says so) and others."""
    app = FastAPI()
    seen: list[dict[str, Any]] = []
    app.state.seen = seen

    @app.post("/events")
    async def events(request: Request) -> Any:
        event: dict[str, Any] = await request.json()
        seen.append(event)
        records = event.get("Records") or []
        if records and records[0].get("eventSource") == "aws:sqs":
            failed = [r["messageId"] for r in records if "fail" in r["body"]]
            return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
        if records and records[0].get("EventSource") == "aws:sns":
            return {"subjects": [r["Sns"]["Subject"] for r in records]}
        if records and records[0].get("eventSource") == "aws:s3":
            return [r["s3"]["object"]["key"] for r in records]
        if event.get("detail-type"):
            return Response(status_code=204)
        return Response("not understood", status_code=422)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


class TestPassThrough:
    def test_sqs_partial_batch_response(self, make_handler: MakeHandler, backend: str) -> None:
        app = events_app()
        handler = make_handler(app, pass_through_path="/events", backend=backend)
        event = load_event(SQS)
        event["Records"][1]["body"] = "please fail"
        result = handler(event, Context())
        assert result == {
            "batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]
        }
        assert app.state.seen == [event]

    def test_sns_s3_and_eventbridge(self, make_handler: MakeHandler, backend: str) -> None:
        handler = make_handler(events_app(), pass_through_path="/events", backend=backend)
        sns = load_event(SNS)
        assert handler(sns, Context()) == {"subjects": [sns["Records"][0]["Sns"]["Subject"]]}
        s3 = load_event(S3)
        result: Any = handler(s3, Context())  # any JSON value, here a list
        assert result == [s3["Records"][0]["s3"]["object"]["key"]]
        assert handler(load_event(EVENTBRIDGE), Context()) is None  # 204: nothing to report

    def test_http_events_are_still_http(self, make_handler: MakeHandler) -> None:
        handler = make_handler(events_app(), pass_through_path="/events")
        result = handler(load_event(HTTP_API, rawPath="/hello"), Context())
        assert (result["statusCode"], result["body"]) == (200, '{"hello":"world"}')

    def test_scope_and_body(self, make_handler: MakeHandler) -> None:
        app = Recorder(headers=[(b"content-type", b"application/vnd.result+json")], body=b"[1]")
        event = {"anything": ["unrecognised", 1, None], "caf\u00e9": True}
        result: Any = make_handler(app, pass_through_path="/a b")(event, Context())
        assert result == [1]
        scope = app.scope
        assert (scope["method"], scope["path"], scope["raw_path"]) == ("POST", "/a b", b"/a%20b")
        assert scope["headers"] == [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(app.bodies[0])).encode()),
        ]
        assert json.loads(app.bodies[0]) == event
        assert scope["aws.event"] is event

    @pytest.mark.parametrize(
        ("status", "headers", "body", "message"),
        [
            (500, [(b"content-type", b"application/json")], b'{"x": 1}', "is 500, not 2xx"),
            (422, [(b"content-type", b"text/plain")], b"bad", "retries the event ('bad')"),
            (200, [(b"content-type", b"text/plain")], b"ok", "content type 'text/plain'"),
            (200, [], b"ok", "content type 'none'"),
            (200, [(b"content-type", b"application/json")], b"{oops", "not valid JSON"),
        ],
    )
    def test_other_answers_fail_the_invocation(
        self,
        make_handler: MakeHandler,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        message: str,
    ) -> None:
        app = Recorder(status=status, headers=headers, body=body)
        handler = make_handler(app, pass_through_path="/events")
        with pytest.raises(PassThroughFailed, match="POST /events") as info:
            handler(load_event(SQS), Context())
        assert message in str(info.value)
        # The environment lives on: the next event is served.
        app.status, app.headers, app.body = 200, [(b"content-type", b"application/json")], b"{}"
        assert handler(load_event(SQS), Context()) == {}

    def test_an_app_exception_fails_the_invocation(
        self, make_handler: MakeHandler, backend: str
    ) -> None:
        app = FastAPI()

        @app.post("/events")
        async def events() -> None:
            raise RuntimeError("boom")

        handler = make_handler(app, pass_through_path="/events", backend=backend)
        with pytest.raises(PassThroughFailed, match="is 500"):
            handler(load_event(SQS), Context())

    def test_long_answers_are_cut_in_the_message(self, make_handler: MakeHandler) -> None:
        app = Recorder(status=503, body=b"x" * 500)
        with pytest.raises(PassThroughFailed, match=r"'x{200}'\.\.\."):
            make_handler(app, pass_through_path="/events")(load_event(SQS), Context())

    def test_without_the_option_non_http_events_are_unsupported(
        self, make_handler: MakeHandler
    ) -> None:
        with pytest.raises(UnsupportedEvent, match="pass_through_path"):
            make_handler(Recorder())(load_event(SQS), Context())

    @pytest.mark.parametrize("value", ["events", "", 5, b"/events"])
    def test_invalid_option(self, value: Any) -> None:
        with pytest.raises(ConfigurationError, match="pass_through_path"):
            Mangum(Recorder(), pass_through_path=value)
