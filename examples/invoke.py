"""Run the example app through its Lambda handler on real API Gateway, Function URL and ALB
events (from tests/fixtures/events) and print each result, as Lambda would return it.

    python -m examples.invoke            # every sample
    python -m examples.invoke --json     # the raw results as JSON lines
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from examples.app import handler

EVENTS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "events"


class Context:
    """What Lambda's Python runtime hands the handler, reduced to what a local run needs."""

    function_name = "mangum-like-example"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def samples() -> list[tuple[str, dict[str, Any]]]:
    rest = _event("powertools/apigw-rest-v1/getting_started_rest_api_resolver.json")
    rest.update(path="/hello/lambda", httpMethod="GET")
    rest["requestContext"]["path"] = "/Prod/hello/lambda"

    http_api = _event("powertools/apigw-http-v2/apiGatewayProxyV2Event.json")
    http_api["rawPath"] = "/echo"
    http_api["requestContext"]["http"].update(method="POST", path="/echo")
    http_api.update(body='{"hello": "world"}', isBase64Encoded=False)

    function_url = _event("powertools/function-url/lambdaFunctionUrlEvent.json")
    function_url["rawPath"] = "/cookies"

    alb_single = _event("aws-lambda-rust-runtime/alb-single/alb_request.json")
    alb_single.update(path="/pixel.gif", httpMethod="GET")

    alb_multi = _event("aws-lambda-rust-runtime/alb-multi/alb_multi_value_request.json")
    alb_multi.update(path="/hello/alb", httpMethod="GET")

    return [
        ("REST API, stage Prod: GET /hello/lambda", rest),
        ("HTTP API 2.0: POST /echo", http_api),
        ("Function URL: GET /cookies", function_url),
        ("ALB single-value headers: GET /pixel.gif", alb_single),
        ("ALB multi-value headers: GET /hello/alb", alb_multi),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print raw results as JSON lines")
    args = parser.parse_args(argv)
    with handler:
        for title, event in samples():
            result = handler(event, Context())
            if args.json:
                sys.stdout.write(json.dumps(result) + "\n")
                continue
            sys.stdout.write(f"== {title}\n{json.dumps(result, indent=2)}\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
