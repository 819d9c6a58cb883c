"""Real events for the example apps, varied by keyword-only builders, and their results read back.

Every builder starts from a real event in tests/fixtures/events and changes only what a request
changes: method, path, query, headers, cookies and body, in the shape that source sends them.
"""

from __future__ import annotations

import base64
import json as jsonlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote_plus

from .helpers import load_event

HTTP_API_EVENT = "aws-lambda-go/apigw-http-v2/apigw-v2-request-no-authorizer.json"
REST_EVENT = "powertools/apigw-rest-v1/getting_started_rest_api_resolver.json"
FUNCTION_URL_EVENT = "powertools/function-url/lambdaFunctionUrlEvent.json"
FUNCTION_URL_HOST = "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.lambda-url.us-east-1.on.aws"
ALB_EVENT = "aws-lambda-rust-runtime/alb-multi/alb_multi_value_request.json"


def _body(body: bytes | str | None, json: Any) -> tuple[str | None, bool, str | None]:
    """(event body, isBase64Encoded, content type) for a text, bytes or JSON body."""
    if json is not None:
        return jsonlib.dumps(json), False, "application/json"
    if isinstance(body, bytes):
        return base64.b64encode(body).decode("ascii"), True, None
    return body, False, None


def http_api(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    cookies: list[str] | None = None,
    body: bytes | str | None = None,
    json: Any = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) request on the $default stage."""
    event = load_event(HTTP_API_EVENT, rawPath=path, rawQueryString=query)
    return _v2(event, method, path, headers, cookies, body, json)


def function_url(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    cookies: list[str] | None = None,
    body: bytes | str | None = None,
    json: Any = None,
) -> dict[str, Any]:
    """A Lambda Function URL request (payload 2.0 shape)."""
    event = load_event(FUNCTION_URL_EVENT, rawPath=path, rawQueryString=query)
    # The fixture's host is a placeholder ("<url-id>..."), which strict frameworks reject.
    event["headers"]["host"] = FUNCTION_URL_HOST
    event["requestContext"]["domainName"] = FUNCTION_URL_HOST
    return _v2(event, method, path, headers, cookies, body, json)


def _v2(
    event: dict[str, Any],
    method: str,
    path: str,
    headers: Mapping[str, str] | None,
    cookies: list[str] | None,
    body: bytes | str | None,
    json: Any,
) -> dict[str, Any]:
    event["requestContext"]["http"].update(method=method, path=path)
    text, encoded, content_type = _body(body, json)
    event["headers"].update({name.lower(): value for name, value in (headers or {}).items()})
    if content_type:
        event["headers"]["content-type"] = content_type
    if cookies:
        event["cookies"] = cookies
    event["isBase64Encoded"] = encoded
    if text is not None:
        event["body"] = text
    return event


def rest(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    cookies: list[str] | None = None,
    body: bytes | str | None = None,
    json: Any = None,
) -> dict[str, Any]:
    """An API Gateway REST API request to stage Prod on the execute-api endpoint.

    API Gateway gives ``path`` without the stage and ``requestContext.path`` with it.
    """
    event = load_event(REST_EVENT, path=path, httpMethod=method, resource="/{proxy+}")
    event["requestContext"].update(path="/Prod" + path, httpMethod=method, stage="Prod")
    pairs = parse_qsl(query, keep_blank_values=True)
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    event["queryStringParameters"] = {key: values[-1] for key, values in multi.items()} or None
    event["multiValueQueryStringParameters"] = multi or None
    text, encoded, content_type = _body(body, json)
    extra = dict(headers or {})
    if content_type:
        extra["Content-Type"] = content_type
    if cookies:
        extra["Cookie"] = "; ".join(cookies)
    event["headers"].update(extra)
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    event.update(body=text, isBase64Encoded=encoded)
    return event


def alb(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    cookies: list[str] | None = None,
    body: bytes | str | None = None,
    json: Any = None,
) -> dict[str, Any]:
    """An Application Load Balancer request with multi-value headers enabled."""
    event = load_event(ALB_EVENT, path=path, httpMethod=method)
    multi: dict[str, list[str]] = {}
    # ALB passes query values on as the client encoded them.
    for key, value in parse_qsl(query, keep_blank_values=True):
        multi.setdefault(quote_plus(key), []).append(quote_plus(value))
    event["multiValueQueryStringParameters"] = multi
    event["queryStringParameters"] = {key: values[-1] for key, values in multi.items()}
    text, encoded, content_type = _body(body, json)
    mv: dict[str, list[str]] = event["multiValueHeaders"]
    mv.pop("cookie", None)
    mv.pop("content-type", None)
    for name, value in (headers or {}).items():
        mv[name.lower()] = [value]
    if content_type:
        mv["content-type"] = [content_type]
    if cookies:
        mv["cookie"] = ["; ".join(cookies)]
    event["headers"] = {name: values[-1] for name, values in mv.items()}
    event.update(body=text or "", isBase64Encoded=encoded)
    return event


Builder = Callable[..., dict[str, Any]]
SOURCES: dict[str, Builder] = {
    "http-api": http_api,
    "rest-api": rest,
    "function-url": function_url,
    "alb": alb,
}


@dataclass
class Result:
    """A Lambda result read back the way the client would see it."""

    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: bytes
    raw: dict[str, Any] = field(repr=False)

    def json(self) -> Any:
        return jsonlib.loads(self.body)


def read(result: dict[str, Any]) -> Result:
    """Normalise a result of any of the sources above."""
    headers = {name.lower(): str(value) for name, value in (result.get("headers") or {}).items()}
    cookies = list(result.get("cookies") or [])
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if name.lower() == "set-cookie":
            cookies.extend(values)
        else:
            headers[name.lower()] = ", ".join(map(str, values))
    if "set-cookie" in headers:
        cookies.append(headers.pop("set-cookie"))
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return Result(int(result["statusCode"]), headers, cookies, data, result)
