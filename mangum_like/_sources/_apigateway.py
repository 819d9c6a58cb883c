"""API Gateway REST and HTTP API payload 1.0 (v1); HTTP API payload 2.0 and Function URLs (v2).

Event and result formats: "Create AWS Lambda proxy integrations for HTTP APIs" and "Set up Lambda
proxy integrations in API Gateway" (API Gateway developer guide), "Invoking Lambda function URLs".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote_plus

from ._base import (
    SourceConfig,
    add_header_pairs,
    check_size,
    decode_body,
    encode_body,
    event_headers,
    group_headers,
    header_bytes,
    header_text,
    make_scope,
    require_str,
    segment_prefix,
    split_decoded_path,
    split_path,
)

if TYPE_CHECKING:
    from .._types import (
        APIGatewayProxyEventV1,
        APIGatewayProxyEventV2,
        Headers,
        LambdaContext,
        LambdaEvent,
        LambdaResult,
        Scope,
    )

_EMPTY: dict[str, Any] = {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


def _quote(text: str) -> str:
    # Most keys and values are plain ASCII words, which form-encoding leaves as they are.
    return text if text.isalnum() and text.isascii() else quote_plus(text)


def encode_query(multi: dict[str, Any] | None, single: dict[str, Any] | None) -> bytes:
    """Re-encode API Gateway's decoded query parameters; every repeated key survives."""
    params = multi or single
    if not params:
        return b""
    parts = []
    for key, values in params.items():
        name = _quote(key)
        if values.__class__ is not list:
            values = [values]
        for value in values:
            parts.append(
                f"{name}={_quote(value if value.__class__ is str else header_text(value))}"
            )
    return "&".join(parts).encode("ascii")


class APIGatewayV1:
    """REST API proxy integration and HTTP API payload format 1.0."""

    name = "API Gateway REST API / HTTP API payload 1.0"

    __slots__ = ("config",)

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    def _root_path(self, path: str, raw: str, context: dict[str, Any]) -> tuple[str, bool]:
        """The prefix the client sees in front of the app's routes, and whether to prepend it.

        On the default execute-api endpoint ``requestContext.path`` starts with the stage
        (``/Prod/todos``) while ``path`` does not (``/todos``). On a custom domain both carry the
        API mapping's base path, which the ``api_gateway_base_path`` option names.
        """
        base = self.config.api_gateway_base_path
        if base and segment_prefix(path, base):
            return base, False
        stage = context.get("stage")
        context_path = context.get("path")
        if not (stage and isinstance(stage, str) and isinstance(context_path, str)):
            return "", False
        if stage == "$default":
            return "", False
        prefix = "/" + stage
        if not segment_prefix(context_path, prefix):
            return "", False
        if context_path[len(prefix) :].rstrip("/") == raw.rstrip("/") or not segment_prefix(
            raw, prefix
        ):
            return prefix, True
        return "", False

    def request(self, event: LambdaEvent, context: LambdaContext) -> tuple[Scope, bytes]:
        typed = cast("APIGatewayProxyEventV1", event)
        method = require_str(typed.get("httpMethod"), "httpMethod")
        raw = require_str(typed.get("path"), "path")
        if raw[0] != "/":
            raw = "/" + raw
        # An HTTP API (payload 1.0 declares its version; REST events carry none) hands over the
        # path decoded, a REST API as the client sent it.
        if typed.get("version") == "1.0":
            path, raw_path = split_decoded_path(raw)
        else:
            path, raw_path = split_path(raw)
        request_context = _dict(typed.get("requestContext"))
        root_path, prepend = self._root_path(path, raw, request_context)
        if prepend:
            path = root_path + path
            raw_path = root_path.encode("ascii") + raw_path
        headers, found = event_headers(event)
        body = decode_body(typed.get("body"), typed.get("isBase64Encoded"))
        scope = make_scope(
            event,
            context,
            method,
            path,
            raw_path,
            root_path,
            encode_query(
                typed.get("multiValueQueryStringParameters"), typed.get("queryStringParameters")
            ),
            headers,
            found,
            _dict(request_context.get("identity")).get("sourceIp"),
            request_context.get("protocol"),
            request_context.get("domainName"),
        )
        return scope, body

    def response(
        self,
        event: LambdaEvent,
        context: LambdaContext,
        status: int,
        headers: Headers,
        body: bytes,
    ) -> LambdaResult:
        grouped = group_headers(headers, self.config)
        text, is_base64 = encode_body(body, grouped, self.config)
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, values in grouped.items():
            if len(values) == 1:
                single[name] = values[0]
            else:
                multi[name] = values
        result: LambdaResult = {
            "statusCode": status,
            "headers": single,
            "multiValueHeaders": multi,
            "body": text,
            "isBase64Encoded": is_base64,
        }
        check_size(result, text, is_base64)
        return result

    def stream_prelude(
        self, event: LambdaEvent, context: LambdaContext, status: int, headers: Headers
    ) -> dict[str, Any]:
        """The metadata of a streamed response (REST API response transfer mode STREAM):
        names with one value in ``headers``, repeated ones in ``multiValueHeaders``."""
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, values in group_headers(headers, self.config).items():
            if len(values) == 1:
                single[name] = values[0]
            else:
                multi[name] = values
        return {"statusCode": status, "headers": single, "multiValueHeaders": multi}


class APIGatewayV2:
    """HTTP API payload format 2.0 and Lambda Function URLs (same event and result format)."""

    name = "API Gateway HTTP API payload 2.0 / Lambda Function URL"

    __slots__ = ("config",)

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    def request(self, event: LambdaEvent, context: LambdaContext) -> tuple[Scope, bytes]:
        typed = cast("APIGatewayProxyEventV2", event)
        request_context = typed["requestContext"]
        http = request_context["http"]
        method = http.get("method")
        if not method or method.__class__ is not str:
            method = require_str(method, "requestContext.http.method")
        raw = typed.get("rawPath")
        if not raw or raw.__class__ is not str:
            raw = require_str(raw, "rawPath")
        # An HTTP API hands over rawPath decoded; a function URL (its own domain name) as the
        # client sent it.
        domain = request_context.get("domainName")
        if domain.__class__ is str and ".lambda-url." in domain:
            path, raw_path = split_path(raw)
        else:
            path, raw_path = split_decoded_path(raw)
        root_path = ""
        base = self.config.api_gateway_base_path
        if base and segment_prefix(path, base):
            root_path = base
        else:
            # A named stage on the execute-api endpoint stays in rawPath: "/beta/api/values".
            stage = request_context.get("stage")
            if stage and stage != "$default" and isinstance(stage, str):
                prefix = "/" + stage
                if segment_prefix(path, prefix):
                    root_path = prefix
        headers: Headers = []
        found: dict[str, str] = {}
        single = typed.get("headers")
        if single:
            add_header_pairs(headers, found, single.items())
        cookies = typed.get("cookies")
        if cookies:
            # API Gateway moves the Cookie header into "cookies"; Function URLs may send both.
            if single and ("cookie" in single or "Cookie" in single):
                headers = [header for header in headers if header[0] != b"cookie"]
            headers.append((b"cookie", header_bytes("; ".join(cookies))))
        query = typed.get("rawQueryString")
        scope = make_scope(
            event,
            context,
            method,
            path,
            raw_path,
            root_path,
            query.encode("utf-8") if isinstance(query, str) else b"",
            headers,
            found,
            http.get("sourceIp"),
            http.get("protocol"),
            domain,
        )
        return scope, decode_body(typed.get("body"), typed.get("isBase64Encoded"))

    def response(
        self,
        event: LambdaEvent,
        context: LambdaContext,
        status: int,
        headers: Headers,
        body: bytes,
    ) -> LambdaResult:
        grouped = group_headers(headers, self.config)
        text, is_base64 = encode_body(body, grouped, self.config)
        cookies = grouped.pop("set-cookie", None)
        result: LambdaResult = {
            "statusCode": status,
            # Payload 2.0 takes one value a name: repeats are comma-joined (RFC 9110 5.3),
            # and every Set-Cookie travels in "cookies", which cannot be joined.
            "headers": {
                name: values[0] if len(values) == 1 else ",".join(values)
                for name, values in grouped.items()
            },
        }
        if cookies:  # Mangum's shape: no "cookies" key when there are none
            result["cookies"] = cookies
        result["body"] = text
        result["isBase64Encoded"] = is_base64
        check_size(result, text, is_base64)
        return result

    def stream_prelude(
        self, event: LambdaEvent, context: LambdaContext, status: int, headers: Headers
    ) -> dict[str, Any]:
        """The metadata of a streamed response (Function URL in RESPONSE_STREAM mode): repeated
        names comma-joined, every Set-Cookie in ``cookies``, as in a buffered result."""
        grouped = group_headers(headers, self.config)
        cookies = grouped.pop("set-cookie", [])
        return {
            "statusCode": status,
            "headers": {
                name: values[0] if len(values) == 1 else ",".join(values)
                for name, values in grouped.items()
            },
            "cookies": cookies,
        }
