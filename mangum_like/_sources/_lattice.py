"""Amazon VPC Lattice target groups with a Lambda target, event structure v1 and v2.

Formats: "Lambda functions as targets in VPC Lattice" (VPC Lattice user guide). Version 1 uses
snake_case fields (``raw_path``, ``query_string_parameters``, ``is_base64_encoded``); version 2
declares ``"version": "2.0"``, lists every header and query value, and adds a
``requestContext`` naming the service network, service and target group. Both expect the same
result: ``statusCode``, ``statusDescription``, ``headers`` (one string per name), ``body`` and
``isBase64Encoded``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._apigateway import encode_query
from ._base import (
    SourceConfig,
    add_header_pairs,
    check_size,
    decode_body,
    encode_body,
    group_headers,
    make_scope,
    reason,
    require_str,
    segment_prefix,
    single_value_headers,
    split_path,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .._types import Headers, LambdaContext, LambdaEvent, LambdaResult, Scope

logger = logging.getLogger("mangum_like")


def _pairs(headers: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    # Version 2 lists every value; version 1 gives one string (repeats comma-joined), and some
    # version 1 events list values too.
    for name, values in headers.items():
        if values.__class__ is list:
            for value in values:
                yield name, value
        elif values is not None:
            yield name, values


class _Lattice:
    __slots__ = ("config", "hinted")

    name = "VPC Lattice"
    # Field names of the event structure version.
    path_field = "path"
    query_field = "queryStringParameters"
    base64_field = "isBase64Encoded"

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.hinted = False

    def request(self, event: LambdaEvent, context: LambdaContext) -> tuple[Scope, bytes]:
        method = require_str(event.get("method"), "method")
        raw = require_str(event.get(self.path_field), self.path_field)
        raw, mark, raw_query = raw.partition("?")
        path, raw_path = split_path(raw)
        base = self.config.api_gateway_base_path
        root_path = base if base and segment_prefix(path, base) else ""
        headers: Headers = []
        found: dict[str, str] = {}
        add_header_pairs(headers, found, _pairs(event.get("headers") or {}))
        if mark:
            query = raw_query.encode("utf-8")  # the query as the client sent it
        else:
            query = encode_query(event.get(self.query_field), None)
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
            forwarded.rpartition(",")[2].strip() if forwarded else None,
            None,  # the event does not carry the protocol version
            None,  # nor a domain name: the Host header names the service
        )
        return scope, decode_body(event.get("body"), event.get(self.base64_field))

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
        single, spread = single_value_headers(grouped, ",")
        if spread and not self.hinted:
            self.hinted = True
            logger.info(
                "VPC Lattice results take one value per header name: the %d Set-Cookie "
                "headers are sent under distinct casings of the name",
                spread,
            )
        result: LambdaResult = {
            "statusCode": status,
            "statusDescription": f"{status} {reason(status)}".rstrip(),
            "headers": single,
            "body": text,
            "isBase64Encoded": is_base64,
        }
        check_size(result, text, is_base64)
        return result


class LatticeV1(_Lattice):
    """VPC Lattice event structure version 1 (snake_case fields; ``_types.VPCLatticeEventV1``)."""

    __slots__ = ()

    name = "VPC Lattice (event structure v1)"
    path_field = "raw_path"
    query_field = "query_string_parameters"
    base64_field = "is_base64_encoded"


class LatticeV2(_Lattice):
    """VPC Lattice event structure version 2 (``_types.VPCLatticeEventV2``)."""

    __slots__ = ()

    name = "VPC Lattice (event structure v2)"
