"""VPC Lattice event structures v1 and v2: request mapping, the result, and detection."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import pytest

from mangum_like import Mangum, UnsupportedEvent

from .helpers import Context, Recorder, load_event

MakeHandler = Callable[..., Mangum]

V1 = "powertools/vpc-lattice-v1/vpcLatticeEvent.json"
V2 = "powertools/vpc-lattice-v2/vpcLatticeV2EventWithHeaders.json"
V2_DOCS = "powertools/vpc-lattice-v2/getting_started_vpclatticev2_resolver.json"


class TestLatticeV1:
    def test_request(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        make_handler(app)(load_event(V1), Context())
        scope = app.scope
        assert (scope["method"], scope["path"], scope["raw_path"]) == (
            "GET",
            "/testpath",
            b"/testpath",
        )
        assert scope["query_string"] == b"order-id=1"
        assert scope["headers"] == [
            (b"user_agent", b"curl/7.64.1"),
            (b"x-forwarded-for", b"10.213.229.10"),
            (b"host", b"test-lambda-service-3908sdf9u3u.dkfjd93.vpc-lattice-svcs.us-east-2.on.aws"),
            (b"accept", b"*/*"),
            (b"header1", b"value1"),
            (b"header2", b"value1,value2"),
        ]
        assert scope["client"] == ("10.213.229.10", 0)
        assert scope["server"] == (
            "test-lambda-service-3908sdf9u3u.dkfjd93.vpc-lattice-svcs.us-east-2.on.aws",
            443,
        )
        assert app.bodies == [b'{"test": "event"}']

    def test_list_header_values_and_query_in_the_path(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        event = load_event(
            V1,
            raw_path="/a%2Fb?x=1&x=2&y=%20",
            headers={"accept": ["a", "b"], "x-n": 5, "x-null": None},
            query_string_parameters={"x": "2"},
            body="plain",
            is_base64_encoded=False,
        )
        make_handler(app)(event, Context())
        scope = app.scope
        assert (scope["path"], scope["raw_path"]) == ("/a/b", b"/a%2Fb")
        assert scope["query_string"] == b"x=1&x=2&y=%20"
        assert scope["headers"] == [(b"accept", b"a"), (b"accept", b"b"), (b"x-n", b"5")]
        assert scope["client"] is None
        assert app.bodies == [b"plain"]

    def test_result(self, make_handler: MakeHandler) -> None:
        app = Recorder(
            status=404,
            headers=[
                (b"content-type", b"application/json"),
                (b"vary", b"accept"),
                (b"Vary", b"origin"),
            ],
            body=b'{"detail": "Not Found"}',
        )
        result = make_handler(app)(load_event(V1), Context())
        assert result == {
            "statusCode": 404,
            "statusDescription": "404 Not Found",
            "headers": {"content-type": "application/json", "vary": "accept,origin"},
            "body": '{"detail": "Not Found"}',
            "isBase64Encoded": False,
        }

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"body": "%%%", "is_base64_encoded": True}, "not valid base64"),
            ({"method": ""}, "method"),
            ({"raw_path": None}, "raw_path"),
        ],
    )
    def test_bad_requests_answer_400(
        self,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
        changes: dict[str, Any],
        message: str,
    ) -> None:
        app = Recorder()
        with caplog.at_level(logging.WARNING, logger="mangum_like"):
            result = make_handler(app)(load_event(V1, **changes), Context())
        assert result["statusCode"] == 400
        assert result["statusDescription"] == "400 Bad Request"
        assert message in caplog.text
        assert app.scopes == []


class TestLatticeV2:
    def test_request_every_header_and_query_value(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        event = load_event(V2)
        make_handler(app)(event, Context())
        scope = app.scope
        assert (scope["method"], scope["path"]) == ("GET", "/newpath")
        assert scope["query_string"] == b"parameter1=value1&parameter1=value2&parameter2=value"
        assert scope["headers"] == [
            (b"user-agent", b"curl/8.3.0"),
            (b"accept", b"*/*"),
            (b"powertools", b"a"),
            (b"powertools", b"b"),
            (b"x-forwarded-for", b"172.31.40.143"),
            (b"host", b"lattice-svc-027b423199122da5f.7d67968.vpc-lattice-svcs.us-east-1.on.aws"),
            (b"header1", b"value1"),
            (b"header2", b"value1"),
            (b"header2", b"value2"),
        ]
        assert scope["client"] == ("172.31.40.143", 0)
        assert scope["aws.event"] is event
        assert app.bodies == [b'{"message": "Hello from Lambda!"}']

    def test_base64_body_and_base_path(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        event = load_event(
            V2_DOCS,
            path="/svc/items",
            body=base64.b64encode(b"\x00\x01").decode(),
            isBase64Encoded=True,
        )
        make_handler(app, api_gateway_base_path="svc")(event, Context())
        assert (app.scope["root_path"], app.scope["path"]) == ("/svc", "/svc/items")
        assert app.bodies == [b"\x00\x01"]

    def test_result_keeps_every_cookie(
        self, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
    ) -> None:
        app = Recorder(
            headers=[
                (b"content-type", b"application/octet-stream"),
                (b"set-cookie", b"a=1"),
                (b"set-cookie", b"b=2"),
                (b"set-cookie", b"c=3"),
            ],
            body=b"\xff",
        )
        handler = make_handler(app)
        with caplog.at_level(logging.INFO, logger="mangum_like"):
            result = handler(load_event(V2), Context())
            handler(load_event(V2), Context())
        assert result == {
            "statusCode": 200,
            "statusDescription": "200 OK",
            "headers": {
                "content-type": "application/octet-stream",
                "set-cookie": "a=1",
                "Set-cookie": "b=2",
                "sEt-cookie": "c=3",
            },
            "body": "/w==",
            "isBase64Encoded": True,
        }
        assert caplog.text.count("distinct casings") == 1

    def test_head_has_no_body(self, make_handler: MakeHandler) -> None:
        result = make_handler(Recorder())(load_event(V2, method="HEAD"), Context())
        assert result == {
            "statusCode": 200,
            "statusDescription": "200 OK",
            "headers": {"content-type": "text/plain"},
            "body": "",
            "isBase64Encoded": False,
        }


class TestDetection:
    def test_lattice_v2_is_not_http_api_v2(self, make_handler: MakeHandler) -> None:
        result = make_handler(Recorder())(load_event(V2), Context())
        assert "statusDescription" in result  # the Lattice shape, not HTTP API's
        assert "cookies" not in result

    def test_lattice_context_without_method_is_unsupported(self, make_handler: MakeHandler) -> None:
        with pytest.raises(UnsupportedEvent, match="requestContext"):
            make_handler(Recorder())(load_event(V2, method=...), Context())

    def test_http_api_v2_with_lattice_like_context_stays_http_api(
        self, make_handler: MakeHandler
    ) -> None:
        event = load_event("powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json")
        event["requestContext"]["targetGroupArn"] = "arn:aws:vpc-lattice:::targetgroup/tg-1"
        result = make_handler(Recorder())(event, Context())
        assert "statusDescription" not in result
