"""``mangum-like invoke`` and ``event``, import strings, and the event builders themselves."""

from __future__ import annotations

import base64
import io
import json
import math
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mangum_like import _cli
from mangum_like._cli import CLIError, Function, import_target
from mangum_like._lambda.context import LambdaContext
from mangum_like._local import (
    FORMATS,
    HOSTS,
    InvalidResult,
    Request,
    build_event,
    parse_result,
    sample_request,
    stage_error,
)

from . import cli_apps
from .cli_apps import EchoApp

ROOT = Path(__file__).resolve().parent.parent
#: Every format, each answered by one of the handler's event sources.
HANDLED = tuple(FORMATS)


@pytest.fixture(autouse=True)
def _cli_logging() -> Iterator[None]:
    import logging

    logger = logging.getLogger("mangum_like.cli")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    # main() sets the root logger's level (--log-level) and quiets mangum_like.http in serve.
    levels = {name: logging.getLogger(name).level for name in ("", "mangum_like.http")}
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> EchoApp:
    """A fresh ``tests.cli_apps:app`` for each test."""
    fresh = EchoApp()
    monkeypatch.setattr(cli_apps, "app", fresh)
    return fresh


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    status = _cli.main(list(argv))
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if captured.out.strip() else None, captured.err


def seen_by(result: dict[str, Any]) -> dict[str, Any]:
    """What the echo app received, from its answer in any result shape."""
    body = result["body"]
    if result.get("isBase64Encoded") or result.get("bodyEncoding") == "base64":
        body = base64.b64decode(body).decode()
    seen: dict[str, Any] = json.loads(body)
    return seen


def header(seen: dict[str, Any], name: str) -> list[str]:
    return [value for key, value in seen["headers"] if key == name]


# -- event ---------------------------------------------------------------------------------------


class TestEventCommand:
    @pytest.mark.parametrize("fmt", HANDLED)
    def test_event_is_accepted_by_invoke(
        self, fmt: str, app: EchoApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status, event, _ = run(capsys, "event", fmt, "--path", "/items?q=1")
        assert status == 0
        path = tmp_path / "event.json"
        path.write_text(json.dumps(event))
        status, result, _ = run(capsys, "invoke", "tests.cli_apps:app", str(path))
        assert status == 0
        # Lambda@Edge results give the status as a string.
        assert str(result.get("statusCode", result.get("status"))) == "200"
        seen = seen_by(result)
        assert (seen["method"], seen["path"]) == ("GET", "/items")
        assert seen["query_string"] in ("q=1",)
        assert header(seen, "host") == [HOSTS[fmt]]
        assert seen["scheme"] == "https"
        assert seen["client"] == ["203.0.113.10", 0]
        assert (app.startups, app.shutdowns) == (1, 1)

    def test_every_format_has_a_sample(self, capsys: pytest.CaptureFixture[str]) -> None:
        for fmt in FORMATS:
            status, event, _ = run(capsys, "event", fmt)
            assert status == 0
            assert isinstance(event, dict) and event

    def test_v2_sample(self, capsys: pytest.CaptureFixture[str]) -> None:
        status, event, _ = run(
            capsys,
            "event",
            "v2",
            "--method",
            "post",
            "--path",
            "/a b/c?x=1&x=2",
            "-H",
            "Cookie: a=1; b=2",
            "-H",
            "X-Multi: 1",
            "-H",
            "X-Multi: 2",
            "--body",
            '{"k": 1}',
        )
        assert status == 0
        context = event["requestContext"]
        assert event["version"] == "2.0"
        assert event["rawPath"] == "/a b/c"
        assert event["rawQueryString"] == "x=1&x=2"
        assert event["queryStringParameters"] == {"x": "1,2"}
        assert event["cookies"] == ["a=1", "b=2"]
        assert "cookie" not in event["headers"]
        assert event["headers"]["x-multi"] == "1,2"
        assert event["headers"]["content-type"] == "application/json"
        assert event["headers"]["content-length"] == "8"
        assert event["headers"]["x-forwarded-for"] == "203.0.113.10"
        assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")
        assert (event["body"], event["isBase64Encoded"]) == ('{"k": 1}', False)
        assert context["http"] == {
            "method": "POST",
            "path": "/a b/c",
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.10",
            "userAgent": "curl/8.5.0",
        }
        assert (context["stage"], context["routeKey"]) == ("$default", "$default")
        assert context["accountId"] == "123456789012"
        assert isinstance(context["timeEpoch"], int)
        assert len(context["requestId"]) == 16

    def test_function_url_keeps_the_cookie_header(self, capsys: pytest.CaptureFixture[str]) -> None:
        _, event, _ = run(capsys, "event", "url", "-H", "Cookie: a=1")
        assert event["cookies"] == ["a=1"]
        assert event["headers"]["cookie"] == "a=1"
        assert event["requestContext"]["domainName"].endswith(".lambda-url.us-east-1.on.aws")
        uuid.UUID(event["requestContext"]["requestId"])
        assert "body" not in event

    def test_rest_api_sample_with_stage(self, capsys: pytest.CaptureFixture[str]) -> None:
        _, event, _ = run(
            capsys, "event", "v1", "--stage", "Prod", "--path", "/items/1?a=1&a=2", "-H", "X-A: 1"
        )
        assert event["path"] == "/items/1"
        assert event["requestContext"]["path"] == "/Prod/items/1"
        assert event["requestContext"]["stage"] == "Prod"
        assert event["pathParameters"] == {"proxy": "items/1"}
        assert event["queryStringParameters"] == {"a": "2"}
        assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
        assert event["headers"]["X-A"] == "1"
        assert event["multiValueHeaders"]["X-A"] == ["1"]
        assert (event["body"], event["isBase64Encoded"]) == (None, False)

    def test_alb_samples(self, capsys: pytest.CaptureFixture[str]) -> None:
        _, single, _ = run(capsys, "event", "alb", "--path", "/p?a=%20&a=2", "-H", "X-A: 1")
        _, multi, _ = run(capsys, "event", "alb-multi", "--path", "/p?a=%20&a=2")
        assert single["queryStringParameters"] == {"a": "2"}
        assert single["headers"]["x-a"] == "1"
        assert "multiValueHeaders" not in single
        assert multi["multiValueQueryStringParameters"] == {"a": ["%20", "2"]}
        assert multi["multiValueHeaders"]["x-forwarded-proto"] == ["https"]
        assert "headers" not in multi
        assert single["requestContext"]["elb"]["targetGroupArn"].startswith("arn:aws:")
        assert (single["body"], single["isBase64Encoded"]) == ("", False)

    def test_lattice_v2_sample(self, capsys: pytest.CaptureFixture[str]) -> None:
        _, event, _ = run(
            capsys, "event", "lattice-v2", "--method", "PUT", "--path", "/p?a=1&a=%202"
        )
        assert (event["version"], event["method"], event["path"]) == ("2.0", "PUT", "/p")
        assert event["queryStringParameters"] == {"a": ["1", " 2"]}
        assert event["headers"]["host"] == [HOSTS["lattice-v2"]]
        assert event["headers"]["x-forwarded-for"] == ["203.0.113.10"]
        # VPC Lattice adds no X-Forwarded-Proto/-Port and no trace id.
        assert {"x-forwarded-proto", "x-forwarded-port", "x-amzn-trace-id"}.isdisjoint(
            event["headers"]
        )
        context = event["requestContext"]
        assert context["serviceNetworkArn"].startswith("arn:aws:vpc-lattice:")
        assert context["targetGroupArn"].startswith("arn:aws:vpc-lattice:")
        assert context["timeEpoch"].isdigit() and len(context["timeEpoch"]) == 16

    def test_edge_sample(self, capsys: pytest.CaptureFixture[str]) -> None:
        _, event, _ = run(
            capsys, "event", "edge", "--method", "POST", "--path", "/p?a=1", "--body", "hi"
        )
        cf = event["Records"][0]["cf"]
        request = cf["request"]
        assert cf["config"]["eventType"] == "origin-request"
        assert (request["method"], request["uri"], request["querystring"]) == ("POST", "/p", "a=1")
        assert request["headers"]["host"] == [{"key": "Host", "value": HOSTS["edge"]}]
        assert request["headers"]["cloudfront-forwarded-proto"] == [
            {"key": "CloudFront-Forwarded-Proto", "value": "https"}
        ]
        assert "x-forwarded-proto" not in request["headers"]
        assert request["body"] == {
            "action": "read-only",
            "data": "aGk=",
            "encoding": "base64",
            "inputTruncated": False,
        }

    def test_body_from_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        (tmp_path / "body.bin").write_bytes(b"\x00\xff")
        _, event, _ = run(
            capsys,
            "event",
            "v2",
            "--body",
            f"@{tmp_path / 'body.bin'}",
            "-H",
            "Content-Type: application/octet-stream",
        )
        assert (event["body"], event["isBase64Encoded"]) == ("AP8=", True)
        status, _, err = run(capsys, "event", "v2", "--body", f"@{tmp_path / 'missing'}")
        assert status == 2
        assert "Cannot read the body file" in err

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["event", "v2", "-H", "no colon"], "expected 'Name: value'"),
            (["event", "v2", "--stage", "a/b"], "expected a stage name"),
            (["event", "nope"], "invalid choice: 'nope'"),
            (["invoke", "m:a", "--timeout", "-1"], "expected a positive number of seconds"),
            (["invoke", "m:a", "--timeout", "soon"], "expected a positive number of seconds"),
        ],
    )
    def test_usage_errors(
        self, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as exit_info:
            _cli.main(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err

    def test_stage_outside_api_gateway(self, capsys: pytest.CaptureFixture[str]) -> None:
        status, _, err = run(capsys, "event", "edge", "--stage", "Prod")
        assert status == 2
        assert "--stage applies to the API Gateway formats v1 and v2, not edge" in err


# -- invoke --------------------------------------------------------------------------------------


class TestInvokeCommand:
    def test_from_a_real_event_file(self, app: EchoApp, capsys: pytest.CaptureFixture[str]) -> None:
        event = (
            ROOT
            / "tests/fixtures/events/aws-lambda-go/function-url"
            / ("function-url-request-with-headers-and-cookies-and-text-body.json")
        )
        status, result, _ = run(capsys, "invoke", "tests.cli_apps:app", str(event))
        assert status == 0
        seen = seen_by(result)
        assert (seen["method"], seen["path"]) == ("POST", "/hello")
        assert base64.b64decode(seen["body"]) == b'{"hello": "world"}'
        assert result["statusCode"] == 200

    def test_from_stdin(
        self, app: EchoApp, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        event = build_event("alb", sample_request("alb", "DELETE", "/things/3"))
        monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(event)))
        status, result, _ = run(capsys, "invoke", "tests.cli_apps:app", "-")
        assert status == 0
        assert result["statusDescription"] == "200 OK"
        assert (seen_by(result)["method"], seen_by(result)["path"]) == ("DELETE", "/things/3")

    def test_synthesised(self, app: EchoApp, capsys: pytest.CaptureFixture[str]) -> None:
        status, result, _ = run(
            capsys,
            "invoke",
            "tests.cli_apps:app",
            "--format",
            "v1",
            "--stage",
            "dev",
            "--method",
            "PATCH",
            "--path",
            "/items/9?x=1",
            "--header",
            "X-Token: abc",
            "--body",
            "plain words",
            "--timeout",
            "3",
        )
        assert status == 0
        assert set(result) == {
            "statusCode",
            "headers",
            "multiValueHeaders",
            "body",
            "isBase64Encoded",
        }
        seen = seen_by(result)
        assert (seen["method"], seen["path"], seen["root_path"]) == (
            "PATCH",
            "/dev/items/9",
            "/dev",
        )
        assert seen["query_string"] == "x=1"
        assert header(seen, "x-token") == ["abc"]
        assert base64.b64decode(seen["body"]) == b"plain words"
        assert 0 < seen["remaining_ms"] <= 3000

    def test_app_prints_go_to_stderr(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def noisy(event: dict[str, Any], context: Any) -> dict[str, Any]:
            print("hello from the function")
            return {"statusCode": 204}

        monkeypatch.setattr(cli_apps, "noisy", noisy, raising=False)
        status, result, err = run(capsys, "invoke", "tests.cli_apps:noisy")
        assert (status, result) == (0, {"statusCode": 204})
        assert "hello from the function" in err

    def test_mangum_handler_object(self, capsys: pytest.CaptureFixture[str]) -> None:
        status, result, _ = run(capsys, "invoke", "tests.cli_apps:handler", "--path", "/x")
        assert status == 0
        assert seen_by(result)["path"] == "/x"

    def test_handler_error_is_reported_as_lambda_does(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status, result, _ = run(
            capsys, "invoke", "tests.cli_apps:lambda_handler", "--path", "/raise"
        )
        assert status == 1
        assert list(result) == ["errorMessage", "errorType", "requestId", "stackTrace"]
        assert result["errorType"] == "ValueError"
        assert result["errorMessage"] == "the handler failed on purpose"
        uuid.UUID(result["requestId"])
        # The trace starts at the handler, as the runtime's: the CLI's own frames are left out.
        assert "cli_apps.py" in result["stackTrace"][0]

    def test_result_is_marshalled_as_the_runtime_marshals_it(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def numbers(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return {"price": Decimal("1.10"), "nan": float("nan"), "none": Decimal("NaN")}

        monkeypatch.setattr(cli_apps, "numbers", numbers, raising=False)
        status, result, _ = run(capsys, "invoke", "tests.cli_apps:numbers")
        assert status == 0
        assert result["price"] == 1.1
        assert math.isnan(result["nan"]) and math.isnan(result["none"])

    def test_unserialisable_result(self, capsys: pytest.CaptureFixture[str]) -> None:
        status, result, _ = run(
            capsys, "invoke", "tests.cli_apps:lambda_handler", "--path", "/unserialisable"
        )
        assert status == 1
        assert result["errorType"] == "Runtime.MarshalError"

    def test_result_over_the_payload_limit(self, capsys: pytest.CaptureFixture[str]) -> None:
        status, result, _ = run(
            capsys, "invoke", "tests.cli_apps:lambda_handler", "--path", "/huge"
        )
        assert status == 1
        assert result["errorType"] == "Function.ResponseSizeTooLarge"

    def test_event_file_and_synthesis_options_conflict(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status, _, err = run(capsys, "invoke", "tests.cli_apps:app", "e.json", "--method", "PUT")
        assert status == 2
        assert "--method build an event; they cannot be combined with EVENT_FILE" in err

    def test_event_file_errors(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        status, _, err = run(capsys, "invoke", "tests.cli_apps:app", str(tmp_path / "none.json"))
        assert status == 2
        assert "Cannot read the event file" in err
        (tmp_path / "bad.json").write_text("{not json")
        status, _, err = run(capsys, "invoke", "tests.cli_apps:app", str(tmp_path / "bad.json"))
        assert status == 2
        assert "is not valid JSON" in err

    def test_lifespan_failure(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from mangum_like import Mangum
        from mangum_like._types import Receive, Scope, Send

        async def broken(scope: Scope, receive: Receive, send: Send) -> None:
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

        monkeypatch.setattr(cli_apps, "broken", Mangum(broken, lifespan="on"), raising=False)
        status, _, err = run(capsys, "invoke", "tests.cli_apps:broken")
        assert status == 1
        assert (
            "Error: the app's lifespan startup failed (lifespan startup failed: no database)" in err
        )


# -- import strings --------------------------------------------------------------------------------


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project directory as the current directory; modules written there are importable."""
    monkeypatch.chdir(tmp_path)
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    yield tmp_path
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]


class TestImportStrings:
    def test_forms(self, user_dir: Path) -> None:
        (user_dir / "proj_forms.py").write_text("class Holder:\n    value = 42\n")
        assert import_target("proj_forms:Holder.value") == 42
        assert import_target("proj_forms.Holder").value == 42
        assert str(user_dir) in sys.path

    def test_module_not_found(self, user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        status, _, err = run(capsys, "invoke", "no_such_module_xyz:app")
        assert status == 2
        assert err.startswith(
            "Error: Could not import module 'no_such_module_xyz': no module named "
            "'no_such_module_xyz' (searched the current directory"
        )
        assert "Traceback" not in err

    def test_package_not_found(self, user_dir: Path) -> None:
        with pytest.raises(CLIError, match="no module named 'no_pkg_xyz'") as info:
            import_target("no_pkg_xyz.sub:app")
        assert info.value.status == 2

    def test_attribute_missing(self, user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        (user_dir / "proj_attr.py").write_text("app = None\n")
        status, _, err = run(capsys, "serve", "proj_attr:application")
        assert status == 2
        assert "Error: Module 'proj_attr' has no attribute 'application'" in err
        assert str(user_dir / "proj_attr.py") in err
        assert "Traceback" not in err

    @pytest.mark.parametrize(
        ("source", "shown"),
        [
            ("x = 1\nraise RuntimeError('no config')\n", "RuntimeError: no config"),
            ("import not_installed_dep_xyz\n", "No module named 'not_installed_dep_xyz'"),
        ],
        ids=["raises", "imports-a-missing-module"],
    )
    def test_exception_inside_the_module(
        self, source: str, shown: str, user_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (user_dir / "proj_raises.py").write_text(source)
        status, _, err = run(capsys, "invoke", "proj_raises:app")
        assert status == 1
        assert err.startswith("Error: Importing module 'proj_raises' raised an exception:\n")
        assert "Traceback (most recent call last):" in err
        assert f'File "{user_dir / "proj_raises.py"}", line' in err
        assert shown in err
        assert "mangum_like/_cli" not in err and "importlib" not in err

    @pytest.mark.parametrize("spec", ["app", ":app", "module:"])
    def test_not_an_import_string(self, spec: str, capsys: pytest.CaptureFixture[str]) -> None:
        status, _, err = run(capsys, "invoke", spec)
        assert status == 2
        assert f"{spec!r} is not an import string: write MODULE:ATTR" in err

    def test_not_callable(self, capsys: pytest.CaptureFixture[str]) -> None:
        status, _, err = run(capsys, "invoke", "tests.cli_apps:not_callable")
        assert status == 2
        assert "42 is neither an ASGI application nor a Lambda handler" in err

    def test_options_for_an_app_only(self, capsys: pytest.CaptureFixture[str]) -> None:
        status, _, err = run(capsys, "invoke", "tests.cli_apps:handler", "--base-path", "/api")
        assert status == 2
        assert "applies to an ASGI app, and this is a Mangum handler" in err

    def test_invalid_base_path(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(CLIError, match="api_gateway_base_path must be a string"):
            Function(cli_apps.app, base_path=1, backend=None)  # type: ignore[arg-type]

    def test_kinds_of_target(self) -> None:
        async def asgi(scope: Any, receive: Any, send: Any) -> None: ...

        def two(event: Any, context: Any, extra: int = 0) -> None: ...

        assert Function(asgi, base_path=None, backend=None).mangum is not None
        assert Function(two, base_path=None, backend=None).mangum is None
        assert Function(cli_apps.app, base_path=None, backend="trio").mangum is not None

    def test_subprocess_module_not_found(self, tmp_path: Path) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "mangum_like", "invoke", "missing_module_xyz:app"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2
        assert done.stderr.startswith("Error: Could not import module 'missing_module_xyz'")
        assert "Traceback" not in done.stderr


# -- builders and converters -------------------------------------------------------------------


class TestResults:
    def test_v2_result_without_status_is_a_json_body(self) -> None:
        response = parse_result("v2", {"hello": "world"})
        assert (response.status, response.body) == (200, b'{"hello": "world"}')
        assert response.headers == [("content-type", "application/json")]
        assert parse_result("url", "text").body == b'"text"'

    def test_v1_multi_value_headers_win(self) -> None:
        response = parse_result(
            "v1",
            {
                "statusCode": 200,
                "headers": {"X-A": "single", "X-B": 1, "X-C": True},
                "multiValueHeaders": {"x-a": ["m1", "m2"]},
                "body": "aGk=",
                "isBase64Encoded": True,
            },
        )
        assert response.headers == [("X-B", "1"), ("X-C", "true"), ("x-a", "m1"), ("x-a", "m2")]
        assert response.body == b"hi"

    def test_lattice_result(self) -> None:
        response = parse_result(
            "lattice-v2",
            {
                "statusCode": 201,
                "statusDescription": "201 Created",
                "headers": {"set-cookie": "a=1", "Set-cookie": "b=2", "x-l": ["1", "2"]},
                "body": "ok",
                "isBase64Encoded": False,
            },
        )
        assert response.status == 201
        assert response.headers == [
            ("set-cookie", "a=1"),
            ("Set-cookie", "b=2"),
            ("x-l", "1"),
            ("x-l", "2"),
        ]

    def test_edge_result(self) -> None:
        response = parse_result(
            "edge",
            {
                "status": "302",
                "statusDescription": "Found",
                "headers": {
                    "location": [{"key": "Location", "value": "/next"}],
                    "set-cookie": [{"key": "Set-Cookie", "value": "a=1"}, {"value": "b=2"}],
                },
                "body": "AAE=",
                "bodyEncoding": "base64",
            },
        )
        assert response.status == 302
        assert response.headers == [
            ("Location", "/next"),
            ("Set-Cookie", "a=1"),
            ("set-cookie", "b=2"),
        ]
        assert response.body == b"\x00\x01"
        assert parse_result("edge", {"status": 200}).body == b""

    @pytest.mark.parametrize(
        ("fmt", "result", "message"),
        [
            ("v1", [], "the result must be a JSON object, got list"),
            ("v1", {"statusCode": 99}, "statusCode must be an HTTP status code, got 99"),
            ("alb", {"statusCode": True}, "statusCode must be an HTTP status code, got True"),
            ("v1", {"statusCode": 200, "headers": []}, "headers must be an object"),
            ("v2", {"statusCode": 200, "cookies": "a=1"}, "cookies must be a list"),
            ("v2", {"statusCode": 200, "body": 5}, "body must be a string, got int"),
            (
                "v2",
                {"statusCode": 200, "body": "!!", "isBase64Encoded": True},
                "flagged base64 but is not valid base64",
            ),
            ("edge", {"status": "abc"}, "status must be an HTTP status code"),
            ("edge", {"status": 200, "headers": {"a": "b"}}, "must be a list of {key, value}"),
            ("edge", {"status": 200, "headers": {"a": [{"key": "A"}]}}, "an entry without value"),
            ("edge", {"status": 200, "bodyEncoding": "gzip"}, "bodyEncoding must be"),
        ],
    )
    def test_invalid_results(self, fmt: str, result: Any, message: str) -> None:
        with pytest.raises(InvalidResult, match=message.replace("{", r"\{").replace("}", r"\}")):
            parse_result(fmt, result)


class TestBuilders:
    def test_unknown_format(self) -> None:
        with pytest.raises(ValueError, match="unknown event format 'v3'"):
            build_event("v3", Request("GET", "/"))

    def test_client_forwarded_for_is_kept_and_extended(self) -> None:
        request = Request(
            "get", "x", [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "ftp")]
        )
        event = build_event("alb", request)
        assert event["httpMethod"] == "GET"
        assert event["path"] == "/x"
        assert event["headers"]["x-forwarded-for"] == "198.51.100.7, 203.0.113.10"
        assert event["headers"]["x-forwarded-proto"] == "https"

    def test_time_and_trace_id(self) -> None:
        request = Request("GET", "/", [("X-Amzn-Trace-Id", "Root=1-abc")])
        event = build_event("v2", request, now=1_700_000_000.5)
        assert event["headers"]["x-amzn-trace-id"] == "Root=1-abc"
        assert event["requestContext"]["timeEpoch"] == 1_700_000_000_500
        assert event["requestContext"]["time"] == "14/Nov/2023:22:13:20 +0000"

    def test_text_body_that_is_not_utf8_goes_base64(self) -> None:
        request = Request("POST", "/", [("Content-Type", "text/plain")], b"\xff\xfe")
        event = build_event("v2", request)
        assert (event["body"], event["isBase64Encoded"]) == ("//4=", True)

    def test_edge_truncates_the_body(self) -> None:
        request = Request("POST", "/", [], b"x" * (1024 * 1024 + 10))
        body = build_event("edge", request)["Records"][0]["cf"]["request"]["body"]
        assert body["inputTruncated"] is True
        assert len(base64.b64decode(body["data"])) == 1024 * 1024

    def test_stage_error(self) -> None:
        assert stage_error("v1", None, "/x") is None
        assert stage_error("alb", "Prod", "/x") is None
        assert stage_error("v1", "Prod", "/Prod") is None
        assert stage_error("v2", "Prod", "/Production") is not None

    def test_context(self) -> None:
        context = LambdaContext.local(2, aws_request_id="id-1")
        assert 1_000 < context.get_remaining_time_in_millis() <= 2_000
        assert context.aws_request_id == "id-1"
        assert context.invoked_function_arn == (
            "arn:aws:lambda:us-east-1:123456789012:function:mangum-like-local"
        )
        assert (context.function_name, context.function_version) == ("mangum-like-local", "$LATEST")
        # Strings, as the official client reads them from the environment.
        assert context.memory_limit_in_mb == "128"
        assert context.log_group_name == "/aws/lambda/mangum-like-local"
        assert context.log_stream_name is not None and "/[$LATEST]" in context.log_stream_name
        assert context.identity.cognito_identity_id is None
        assert context.client_context is None
        assert repr(context).startswith("LambdaContext([aws_request_id=id-1,log_group_name=")
        uuid.UUID(LambdaContext.local(2).aws_request_id)
        expired = LambdaContext(aws_request_id="x", deadline_ms=0)
        assert expired.get_remaining_time_in_millis() == 0


def test_console_script_is_declared() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert 'mangum-like = "mangum_like._cli:main"' in text
    script = Path(sys.executable).parent / "mangum-like"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "serve" in done.stdout and "invoke" in done.stdout and "event" in done.stdout


#: The fixture folder of real events for each format.
FIXTURE_KINDS = {
    "v2": "apigw-http-v2",
    "v1": "apigw-rest-v1",
    "alb": "alb-single",
    "alb-multi": "alb-multi",
    "url": "function-url",
    "lattice-v2": "vpc-lattice-v2",
    "edge": "lambda-edge",
}


# "Lambda@Edge event structure" (CloudFront developer guide), fields of request events.
EDGE_DOCUMENTED_CONFIG = {
    "distributionDomainName": "d111111abcdef8.cloudfront.net",
    "distributionId": "EDFDVBD6EXAMPLE",
    "eventType": "origin-request",
    "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
}
EDGE_DOCUMENTED_REQUEST = {
    "body": {"action": "read-only", "data": "", "encoding": "base64", "inputTruncated": False},
    "clientIp": "203.0.113.178",
    "headers": {},
    "method": "GET",
    "origin": {"custom": {}},
    "querystring": "",
    "uri": "/",
}


def _json_type(value: Any) -> str:
    return (
        "number"
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else (type(value).__name__)
    )


def _shapes(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each key of the objects, with the JSON types its non-null values take."""
    shapes: dict[str, set[str]] = {}
    for obj in objects:
        for key, value in obj.items():
            types = shapes.setdefault(key, set())
            if value is not None:
                types.add(_json_type(value))
    return shapes


def _assert_within(sample: dict[str, Any], real: list[dict[str, Any]], where: str) -> None:
    shapes = _shapes(real)
    for key, value in sample.items():
        assert key in shapes, f"{where}.{key} is in no real event"
        if value is not None and shapes[key]:
            assert _json_type(value) in shapes[key], f"{where}.{key}: {value!r} vs {shapes[key]}"


@pytest.mark.parametrize("fmt", list(FIXTURE_KINDS))
def test_samples_have_the_shape_of_real_events(fmt: str) -> None:
    """Every key of a sample event appears, with the same JSON type, in the real events of its
    kind, and the handler's source detection takes the sample for one of them."""
    from mangum_like import Mangum

    from .helpers import Context, event_names, load_event

    sample = build_event(fmt, sample_request(fmt, "POST", "/p?a=1", [("Cookie", "c=1")], b"{}"))
    real = [load_event(name) for name in event_names(FIXTURE_KINDS[fmt])]
    if fmt == "edge":
        # Request triggers only: response triggers carry the request too.
        real = [event for event in real if "response" not in event["Records"][0]["cf"]]
        records = [event["Records"][0]["cf"] for event in real]
        cf = sample["Records"][0]["cf"]
        # The fixtures' configs predate fields the docs list for request events.
        configs = [r["config"] for r in records] + [EDGE_DOCUMENTED_CONFIG]
        _assert_within(cf["config"], configs, "cf.config")
        requests = [r["request"] for r in records] + [EDGE_DOCUMENTED_REQUEST]
        _assert_within(cf["request"], requests, "cf.request")
    else:
        _assert_within(sample, real, "event")
        contexts = [event["requestContext"] for event in real if event.get("requestContext")]
        _assert_within(sample["requestContext"], contexts, "requestContext")
    sources = Mangum(EchoApp(), lifespan="off")._sources
    assert {type(sources.detect(event, Context())) for event in real} == {
        type(sources.detect(sample, Context()))
    }


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone away, as ``mangum-like event v2 | head`` leaves it."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_goes_away_ends_the_command_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert _cli.main(["event", "edge"]) == 141
    assert capsys.readouterr().err == ""
