"""Lambda events made from HTTP requests, and HTTP responses made from Lambda results.

What the AWS services in front of a function do, done locally: ``mangum-like serve`` turns each
request it receives into the event of the chosen service and the function's result back into
the response; ``invoke`` and ``event`` build the same events from a method, a path and headers.
The shapes follow the AWS docs of each service and the real events in tests/fixtures/events:

- ``v2`` / ``url``: "Create AWS Lambda proxy integrations for HTTP APIs" (payload format 2.0),
  "Invoking Lambda function URLs" (the same payload).
- ``v1``: "Lambda proxy integrations in API Gateway" (REST API input and output formats).
- ``alb`` / ``alb-multi``: "Lambda functions as targets" (Elastic Load Balancing user guide).
- ``lattice-v2``: "Lambda functions as targets in VPC Lattice" (event structure version 2).
- ``edge``: "Lambda@Edge event structure" and "Generate HTTP responses in request triggers".
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote

from ._lambda.context import DEFAULT_ACCOUNT, DEFAULT_REGION
from ._sources._base import SourceConfig, reason

#: The formats, by their CLI name, and what each stands for.
FORMATS: dict[str, str] = {
    "v2": "API Gateway HTTP API, payload format 2.0",
    "v1": "API Gateway REST API (Lambda proxy integration)",
    "alb": "Application Load Balancer, single-value headers",
    "alb-multi": "Application Load Balancer, multi-value headers",
    "url": "Lambda function URL",
    "lattice-v2": "VPC Lattice, event structure version 2",
    "edge": "Lambda@Edge origin-request trigger with the body included",
}
#: The formats whose URL may start with an API stage.
STAGED = ("v1", "v2")

#: CloudFront hands an origin-request trigger at most 1 MB of the body, flagged as truncated
#: ("Restrictions on the request body with the include body option").
EDGE_BODY_LIMIT = 1024 * 1024
#: "Lambda functions as targets" (ELB user guide): an ALB hands the function at most 1 MB of
#: request body.
ALB_MAX_REQUEST_BODY_BYTES = 1024 * 1024

API_ID = "a1b2c3d4e5"
URL_ID = "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6"
DISTRIBUTION_ID = "E2QWRUHEXAMPLE"
DISTRIBUTION_DOMAIN = "d111111abcdef8.cloudfront.net"
_LATTICE = f"arn:aws:vpc-lattice:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}"
_TARGET_GROUP = (
    f"arn:aws:elasticloadbalancing:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:"
    "targetgroup/mangum-like/6d0ecf831eec9f09"
)

#: The Host a client of each service names, for events made without a real request.
HOSTS = {
    "v2": f"{API_ID}.execute-api.{DEFAULT_REGION}.amazonaws.com",
    "v1": f"{API_ID}.execute-api.{DEFAULT_REGION}.amazonaws.com",
    "url": f"{URL_ID}.lambda-url.{DEFAULT_REGION}.on.aws",
    "alb": f"mangum-like-1234567890.{DEFAULT_REGION}.elb.amazonaws.com",
    "alb-multi": f"mangum-like-1234567890.{DEFAULT_REGION}.elb.amazonaws.com",
    "lattice-v2": f"mangum-like-0a1b2c3d4e5f67890.7d67968.vpc-lattice-svcs.{DEFAULT_REGION}.on.aws",
    "edge": DISTRIBUTION_DOMAIN,
}

# Connection-level headers: a proxy consumes them (RFC 9110 7.6.1) and the function never sees
# them. The body reaches the function whole, so Content-Length is set to its real length.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "content-length",
        "expect",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_FORWARDED = frozenset(
    {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "cloudfront-forwarded-proto"}
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT = SourceConfig("/", (), ())


class Request:
    """One HTTP request as a client sent it: the target keeps its percent-encoding."""

    __slots__ = ("body", "client_ip", "headers", "method", "port", "scheme", "target")

    def __init__(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        client_ip: str = "203.0.113.10",
        scheme: str = "https",
        port: int = 443,
    ) -> None:
        self.method = method.upper()
        self.target = target if target.startswith("/") else "/" + target
        self.headers = list(headers)
        self.body = body
        self.client_ip = client_ip
        self.scheme = scheme
        self.port = port


class Response:
    """An HTTP response made from a Lambda result; header names keep the result's casing."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class InvalidResult(Exception):
    """The function's result is not one the service accepts; the service answers 502."""


def sample_request(
    fmt: str,
    method: str = "GET",
    path: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Request:
    """A request as a client of the service would send it, for events made without a server."""
    given = list(headers)
    names = {name.lower() for name, _ in given}
    defaults = [("Host", HOSTS[fmt]), ("User-Agent", "curl/8.5.0"), ("Accept", "*/*")]
    if body and "content-type" not in names:
        defaults.append(("Content-Type", "application/json"))
    return Request(
        method, path, [pair for pair in defaults if pair[0].lower() not in names] + given, body
    )


def stage_error(fmt: str, stage: str | None, raw_path: str) -> Response | None:
    """The answer of an API whose stage is not in the URL, or None when the URL names it.

    On the execute-api endpoint every URL starts with the stage; outside it, a REST API answers
    403 ``{"message":"Forbidden"}`` and an HTTP API 404 ``{"message":"Not Found"}``.
    """
    if stage is None or fmt not in STAGED:
        return None
    prefix = "/" + stage
    if raw_path == prefix or raw_path.startswith(prefix + "/"):
        return None
    status, message = (403, "Forbidden") if fmt == "v1" else (404, "Not Found")
    body = json.dumps({"message": message}).encode()
    return Response(status, [("Content-Type", "application/json")], body)


def build_event(
    fmt: str, request: Request, *, stage: str | None = None, now: float | None = None
) -> dict[str, Any]:
    """The event the service of ``fmt`` hands the function for ``request``.

    ``stage`` names the API stage the URL starts with (the execute-api endpoint); without it the
    URL has none, as on a custom domain (``v1`` then reports stage ``Prod``, ``v2`` ``$default``).
    """
    if now is None:
        now = time.time()
    raw_path, _, raw_query = request.target.partition("?")
    headers = _proxied_headers(fmt, request, now)
    body_text, is_base64 = _body(request.body, headers)
    if fmt in ("v2", "url"):
        return _v2(fmt, request, raw_path, raw_query, headers, body_text, is_base64, stage, now)
    if fmt == "v1":
        return _v1(request, raw_path, raw_query, headers, body_text, is_base64, stage, now)
    if fmt in ("alb", "alb-multi"):
        return _alb(fmt, request, raw_path, raw_query, headers, body_text, is_base64)
    if fmt == "lattice-v2":
        return _lattice(request, raw_path, raw_query, headers, body_text, is_base64, now)
    if fmt == "edge":
        return _edge(request, raw_path, raw_query, headers, now)
    raise ValueError(f"unknown event format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _proxied_headers(fmt: str, request: Request, now: float) -> list[tuple[str, str]]:
    """The client's headers as the service forwards them, with the ones it adds."""
    headers = [(n, v) for n, v in request.headers if n.lower() not in _HOP_BY_HOP]
    if request.body:
        headers.append(("Content-Length", str(len(request.body))))
    # A proxy appends the address it received the request from to X-Forwarded-For.
    forwarded = [v for n, v in headers if n.lower() == "x-forwarded-for"]
    headers = [(n, v) for n, v in headers if n.lower() not in _FORWARDED]
    headers.append(("X-Forwarded-For", ", ".join([*forwarded, request.client_ip])))
    if fmt == "edge":
        # CloudFront tells the protocol in CloudFront-Forwarded-Proto (when the cache policy
        # forwards it); edge functions never see X-Forwarded-Proto.
        headers.append(("CloudFront-Forwarded-Proto", request.scheme))
        return headers
    if fmt != "lattice-v2" or request.scheme != "https":
        # API Gateway and ALB add these. VPC Lattice does not; for the plain-HTTP local server
        # they are added anyway, so that the URLs the app builds lead back to it.
        headers.append(("X-Forwarded-Port", str(request.port)))
        headers.append(("X-Forwarded-Proto", request.scheme))
    if fmt != "lattice-v2" and not any(n.lower() == "x-amzn-trace-id" for n, _ in headers):
        headers.append(("X-Amzn-Trace-Id", f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}"))
    return headers


def _body(body: bytes, headers: list[tuple[str, str]]) -> tuple[str, bool]:
    # The services hand textual bodies over as text and anything else base64-encoded (for a
    # REST API, as with binary media types configured for the non-text types).
    if not body:
        return "", False
    content_type = next((v for n, v in headers if n.lower() == "content-type"), "")
    if content_type and _TEXT.is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def _grouped(headers: list[tuple[str, str]], lower: bool) -> dict[str, list[str]]:
    """Values by header name (the first casing seen, or lower case), in order."""
    grouped: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for name, value in headers:
        key = names.setdefault(name.lower(), name.lower() if lower else name)
        grouped.setdefault(key, []).append(value)
    return grouped


def _query(raw_query: str) -> list[tuple[str, str]]:
    return parse_qsl(raw_query, keep_blank_values=True)


def _clf_time(now: float) -> str:
    # Common Log Format, in English whatever the locale: "12/Mar/2020:19:03:58 +0000".
    t = time.gmtime(now)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:" + time.strftime(
        "%H:%M:%S +0000", t
    )


def _short_id(size: int = 11) -> str:
    # API Gateway's request ids: "JKJaXmPLvHcESHA="
    return base64.b64encode(os.urandom(size)).decode("ascii")


def _user_agent(headers: list[tuple[str, str]]) -> str:
    return next((v for n, v in headers if n.lower() == "user-agent"), "")


def _v2(
    fmt: str,
    request: Request,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body_text: str,
    is_base64: bool,
    stage: str | None,
    now: float,
) -> dict[str, Any]:
    grouped = _grouped(headers, lower=True)
    cookies = [
        part.strip()
        for value in grouped.get("cookie", ())
        for part in value.split(";")
        if part.strip()
    ]
    if fmt == "v2":
        # An HTTP API moves the Cookie header into "cookies"; a function URL sends both.
        grouped.pop("cookie", None)
        # An HTTP API also decodes the path before it makes the event (rawPath and
        # requestContext.http.path alike); a function URL passes it on as the client sent it.
        raw_path = unquote(raw_path)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    # Payload 2.0 joins repeated headers and query values with commas.
    event["headers"] = {name: ",".join(values) for name, values in grouped.items()}
    params: dict[str, list[str]] = {}
    for key, value in _query(raw_query):
        params.setdefault(key, []).append(value)
    if params:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in params.items()}
    if fmt == "v2":
        api_id, domain, request_id = API_ID, HOSTS["v2"], _short_id()
    else:
        api_id, domain, request_id = URL_ID, HOSTS["url"], str(uuid.uuid4())
    event["requestContext"] = {
        "accountId": DEFAULT_ACCOUNT if fmt == "v2" else "anonymous",
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": api_id,
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.client_ip,
            "userAgent": _user_agent(headers),
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": stage or "$default",
        "time": _clf_time(now),
        "timeEpoch": int(now * 1000),
    }
    if body_text:
        event["body"] = body_text
    event["isBase64Encoded"] = is_base64
    return event


def _v1(
    request: Request,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body_text: str,
    is_base64: bool,
    stage: str | None,
    now: float,
) -> dict[str, Any]:
    # On the execute-api endpoint "path" leaves the stage out and requestContext.path keeps it.
    path = raw_path
    if stage is not None:
        path = raw_path[len(stage) + 1 :] or "/"
    multi = _grouped(headers, lower=False)
    params: dict[str, list[str]] = {}
    for key, value in _query(raw_query):
        params.setdefault(key, []).append(value)
    proxy = path.lstrip("/")
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": request.method,
        # Where a name repeats, the single-value object holds the last value.
        "headers": {name: values[-1] for name, values in multi.items()},
        "multiValueHeaders": multi,
        "queryStringParameters": {k: v[-1] for k, v in params.items()} if params else None,
        "multiValueQueryStringParameters": params or None,
        "pathParameters": {"proxy": proxy} if proxy else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": DEFAULT_ACCOUNT,
            "apiId": API_ID,
            "domainName": HOSTS["v1"],
            "domainPrefix": API_ID,
            "extendedRequestId": _short_id(),
            "httpMethod": request.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": request.client_ip,
                "user": None,
                "userAgent": _user_agent(headers),
                "userArn": None,
            },
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": _clf_time(now),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "a1b2c3",
            "resourcePath": "/{proxy+}",
            "stage": stage or "Prod",
        },
        "body": body_text or None,
        "isBase64Encoded": is_base64,
    }


def _alb(
    fmt: str,
    request: Request,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body_text: str,
    is_base64: bool,
) -> dict[str, Any]:
    # ALB passes the query's keys and values as the client encoded them, and lower-cases header
    # names; without multi-value headers it keeps the last value of a repeated name or key.
    params: dict[str, list[str]] = {}
    for part in raw_query.split("&") if raw_query else ():
        key, _, value = part.partition("=")
        params.setdefault(key, []).append(value)
    grouped = _grouped(headers, lower=True)
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": _TARGET_GROUP}},
        "httpMethod": request.method,
        "path": raw_path,
    }
    if fmt == "alb-multi":
        event["multiValueQueryStringParameters"] = params
        event["multiValueHeaders"] = grouped
    else:
        event["queryStringParameters"] = {k: v[-1] for k, v in params.items()}
        event["headers"] = {name: values[-1] for name, values in grouped.items()}
    event["body"] = body_text
    event["isBase64Encoded"] = is_base64
    return event


def _lattice(
    request: Request,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    body_text: str,
    is_base64: bool,
    now: float,
) -> dict[str, Any]:
    # Version 2 lists every header value and every query value, names lower-cased.
    params: dict[str, list[str]] = {}
    for key, value in _query(raw_query):
        params.setdefault(key, []).append(value)
    return {
        "version": "2.0",
        "path": raw_path,
        "method": request.method,
        "headers": _grouped(headers, lower=True),
        "queryStringParameters": params,
        "body": body_text,
        "isBase64Encoded": is_base64,
        "requestContext": {
            "serviceNetworkArn": f"{_LATTICE}:servicenetwork/sn-0bf3f2882e9cc805a",
            "serviceArn": f"{_LATTICE}:service/svc-0a40eebed65f8d69c",
            "targetGroupArn": f"{_LATTICE}:targetgroup/tg-6d0ecf831eec9f09",
            "identity": {
                "sourceVpcArn": f"arn:aws:ec2:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:vpc/vpc-0b8276c8",
                "type": "NONE",
            },
            "region": DEFAULT_REGION,
            # Microseconds since the epoch, as a string.
            "timeEpoch": str(int(now * 1_000_000)),
        },
    }


def _edge(
    request: Request,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    now: float,
) -> dict[str, Any]:
    data = request.body[:EDGE_BODY_LIMIT]
    cf_headers: dict[str, list[dict[str, str]]] = {}
    for name, value in headers:
        cf_headers.setdefault(name.lower(), []).append({"key": name, "value": value})
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": DISTRIBUTION_DOMAIN,
                        "distributionId": DISTRIBUTION_ID,
                        "eventType": "origin-request",
                        "requestId": base64.urlsafe_b64encode(os.urandom(42)).decode("ascii"),
                    },
                    "request": {
                        "body": {
                            "action": "read-only",
                            "data": base64.b64encode(data).decode("ascii"),
                            "encoding": "base64",
                            "inputTruncated": len(data) < len(request.body),
                        },
                        "clientIp": request.client_ip,
                        "headers": cf_headers,
                        "method": request.method,
                        "origin": {
                            "custom": {
                                "customHeaders": {},
                                "domainName": "origin.example.com",
                                "keepaliveTimeout": 5,
                                "path": "",
                                "port": 443,
                                "protocol": "https",
                                "readTimeout": 30,
                                "sslProtocols": ["TLSv1.2"],
                            }
                        },
                        "querystring": raw_query,
                        "uri": raw_path,
                    },
                }
            }
        ]
    }


# -- results ------------------------------------------------------------------------------------


def parse_result(fmt: str, result: Any) -> Response:
    """The HTTP response the service of ``fmt`` makes of the function's result.

    Raises ``InvalidResult`` for a result the service would reject (it answers 502).
    """
    if fmt in ("v2", "url") and not (isinstance(result, dict) and "statusCode" in result):
        # Payload 2.0 without a statusCode: the service takes the result as a JSON body.
        return Response(200, [("content-type", "application/json")], json.dumps(result).encode())
    if not isinstance(result, dict):
        raise InvalidResult(f"the result must be a JSON object, got {type(result).__name__}")
    if fmt == "edge":
        return _edge_result(result)
    status = _status(result.get("statusCode"), "statusCode")
    headers: list[tuple[str, str]] = []
    multi = _object(result, "multiValueHeaders")
    single = _object(result, "headers")
    if fmt in ("v1", "alb-multi"):
        # Where both objects name a header, the multi-value one wins.
        seen = {name.lower() for name in multi}
        single = {k: v for k, v in single.items() if k.lower() not in seen}
    for name, value in single.items():
        for item in value if isinstance(value, list) else [value]:
            headers.append((name, _text(item)))
    for name, values in multi.items():
        for item in values if isinstance(values, list) else [values]:
            headers.append((name, _text(item)))
    if fmt in ("v2", "url"):
        cookies = result.get("cookies") or []
        if not isinstance(cookies, list):
            raise InvalidResult("the result's cookies must be a list of strings")
        headers.extend(("set-cookie", _text(cookie)) for cookie in cookies)
    body = _decode(result.get("body"), bool(result.get("isBase64Encoded")))
    return Response(status, headers, body)


def _edge_result(result: dict[str, Any]) -> Response:
    status = _status(result.get("status"), "status")
    headers: list[tuple[str, str]] = []
    cf_headers = _object(result, "headers")
    for name, entries in cf_headers.items():
        if not isinstance(entries, list):
            raise InvalidResult(f"the result's header {name!r} must be a list of {{key, value}}")
        for entry in entries:
            if not isinstance(entry, dict) or "value" not in entry:
                raise InvalidResult(f"the result's header {name!r} has an entry without value")
            headers.append((str(entry.get("key") or name), _text(entry["value"])))
    encoding = result.get("bodyEncoding", "text")
    if encoding not in ("text", "base64"):
        raise InvalidResult(f"bodyEncoding must be 'text' or 'base64', got {encoding!r}")
    return Response(status, headers, _decode(result.get("body"), encoding == "base64"))


def _status(value: Any, field: str) -> int:
    # Lambda@Edge gives the status as a string ("200"); the others as a number.
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise InvalidResult(f"the result's {field} must be an HTTP status code, got {value!r}")
    return value


def _object(result: dict[str, Any], field: str) -> dict[str, Any]:
    value = result.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidResult(f"the result's {field} must be an object, got {value!r}")
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _decode(body: Any, is_base64: bool) -> bytes:
    if body is None or body == "":
        return b""
    if not isinstance(body, str):
        raise InvalidResult(f"the result's body must be a string, got {type(body).__name__}")
    if not is_base64:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidResult("the result's body is flagged base64 but is not valid base64") from exc


def status_line(status: int) -> str:
    """``"404 Not Found"``; the status alone for codes HTTP does not name."""
    return f"{status} {reason(status)}".rstrip()
