"""Application Load Balancer targets, in single- and multi-value headers mode.

Formats: "Lambda functions as targets" (Elastic Load Balancing user guide). ALB hands over the
query string and path as the client sent them, percent-encoding included, and appends the
client's address last to X-Forwarded-For.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from ._base import (
    SourceConfig,
    check_size,
    decode_body,
    encode_body,
    event_headers,
    group_headers,
    header_text,
    make_scope,
    reason,
    require_str,
    segment_prefix,
    single_value_headers,
    split_path,
)

if TYPE_CHECKING:
    from .._types import ALBEvent, Headers, LambdaContext, LambdaEvent, LambdaResult, Scope

logger = logging.getLogger("mangum_like")

# "Lambda functions as targets": the response JSON, and the request body, may be at most 1 MB
# each. The load balancer answers 502 to a larger result, with nothing in the function's log.
MAX_RESULT_BYTES = 1024 * 1024
MAX_REQUEST_BODY_BYTES = 1024 * 1024


def _verbatim_query(params: dict[str, Any] | None) -> bytes:
    if not params:
        return b""
    parts = []
    for key, values in params.items():
        if not isinstance(values, list):
            values = [values]
        for value in values:
            parts.append(f"{key}={header_text(value)}")
    return "&".join(parts).encode("utf-8")


class ALB:
    """An Application Load Balancer target group with a Lambda target."""

    name = "Application Load Balancer"

    __slots__ = ("config", "hinted")

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.hinted = False

    def request(self, event: LambdaEvent, context: LambdaContext) -> tuple[Scope, bytes]:
        typed = cast("ALBEvent", event)
        method = require_str(typed.get("httpMethod"), "httpMethod")
        path, raw_path = split_path(require_str(typed.get("path"), "path"))
        base = self.config.api_gateway_base_path
        root_path = base if base and segment_prefix(path, base) else ""
        headers, found = event_headers(event)
        if "multiValueQueryStringParameters" in typed:
            query = _verbatim_query(typed.get("multiValueQueryStringParameters"))
        else:
            query = _verbatim_query(typed.get("queryStringParameters"))
        forwarded = found.get("x-forwarded-for")
        scope = make_scope(
            event,
            context,
            method,
            path,
            raw_path,
            root_path,
            query,
            headers,
            found,
            forwarded.rpartition(",")[2].strip() if forwarded else None,  # the client
            None,  # ALB does not say which protocol version the client used
            None,  # nor its domain name: the Host header names the server
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
        result: LambdaResult = {
            "statusCode": status,
            "statusDescription": f"{status} {reason(status)}".rstrip(),
        }
        if "multiValueHeaders" in event:
            result["multiValueHeaders"] = grouped
        else:
            result["headers"] = self._single_value_headers(grouped)
        result["body"] = text
        result["isBase64Encoded"] = is_base64
        check_size(result, text, is_base64, MAX_RESULT_BYTES, "Application Load Balancer")
        return result

    def _single_value_headers(self, grouped: dict[str, list[str]]) -> dict[str, str]:
        # ALB treats header names case-insensitively but passes each casing through as its own
        # header line: that is how every cookie reaches the client in single-value mode.
        single, spread = single_value_headers(grouped, ", ")
        if spread and not self.hinted:
            self.hinted = True
            logger.warning(
                "The response sets %d cookies; in single-value mode each Set-Cookie is sent "
                "under a different casing of the name. Enable multi-value headers on the ALB "
                "target group to receive them as a list.",
                spread,
            )
        return single
