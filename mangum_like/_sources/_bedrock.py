"""Amazon Bedrock agent action groups defined by an OpenAPI schema.

Format: "Configure Lambda functions to send information that an Amazon Bedrock agent elicits from
the user" (Amazon Bedrock user guide). The agent picks an operation of the action group's OpenAPI
schema and sends ``apiPath`` (the schema's path, ``{name}`` placeholders included),
``httpMethod``, ``parameters`` (path and query parameters, ``{name, type, value}``) and
``requestBody.content[<content type>].properties`` (the body's fields, same triples). The app
that the schema describes serves the request; its response travels back in the agent envelope
``{messageVersion, response: {actionGroup, apiPath, httpMethod, httpStatusCode, responseBody}}``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, urlencode

from .._exceptions import InvalidRequest
from ._base import (
    SourceConfig,
    check_size,
    encode_body,
    group_headers,
    header_bytes,
    header_text,
    make_scope,
    require_str,
    split_path,
)

if TYPE_CHECKING:
    from .._types import (
        BedrockAgentEvent,
        Headers,
        LambdaContext,
        LambdaEvent,
        LambdaResult,
        Scope,
    )

_PLACEHOLDER = re.compile(r"\{([^{}/]+)\}")
_JSON_TYPES = ("application/json",)


def _typed(kind: Any, value: Any) -> Any:
    """A property value as the JSON type the schema gives it; the agent sends text."""
    if not isinstance(value, str):
        return value
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            lowered = value.strip().lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            return value
        if kind in ("array", "object"):
            import json  # on first use, so that "import mangum_like" stays light

            return json.loads(value)
    except ValueError:
        pass  # the app's validation says what is wrong with it
    return value


def _triples(value: Any, field: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise InvalidRequest(f"the event's {field} must be a list of name/type/value objects")
    return value


def _body(event: LambdaEvent) -> tuple[bytes, str | None]:
    """The request body built from ``requestBody.content``, and its content type."""
    request_body = event.get("requestBody")
    if not request_body:
        return b"", None
    content = request_body.get("content") if isinstance(request_body, dict) else None
    if not isinstance(content, dict) or not content:
        raise InvalidRequest("the event's requestBody.content must name a content type")
    content_type, media = next(iter(content.items()))
    properties = _triples(
        media.get("properties") if isinstance(media, dict) else None,
        f"requestBody.content[{content_type!r}].properties",
    )
    mime = content_type.partition(";")[0].strip().lower()
    if mime in _JSON_TYPES or mime.endswith("+json"):
        fields = {str(p.get("name")): _typed(p.get("type"), p.get("value")) for p in properties}
        import json  # on first use, so that "import mangum_like" stays light

        return json.dumps(fields, ensure_ascii=False).encode("utf-8"), content_type
    if mime == "application/x-www-form-urlencoded":
        pairs = [(str(p.get("name")), header_text(p.get("value"))) for p in properties]
        return urlencode(pairs).encode("ascii"), content_type
    raise InvalidRequest(
        f"the request body's content type {content_type!r} is not supported; the action "
        "group's schema can use application/json or application/x-www-form-urlencoded"
    )


class BedrockAgent:
    """An action group of an Amazon Bedrock agent, described by an OpenAPI schema."""

    name = "Amazon Bedrock agent action group"

    __slots__ = ("config",)

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    def request(self, event: LambdaEvent, context: LambdaContext) -> tuple[Scope, bytes]:
        typed = cast("BedrockAgentEvent", event)
        method = require_str(typed.get("httpMethod"), "httpMethod")
        template = require_str(typed.get("apiPath"), "apiPath")
        parameters = {
            str(p.get("name")): header_text(p.get("value"))
            for p in _triples(typed.get("parameters"), "parameters")
        }
        used: set[str] = set()

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in parameters:
                raise InvalidRequest(f"apiPath {template!r} names {{{name}}} but no parameter")
            used.add(name)
            return quote(parameters[name], safe="")

        raw = _PLACEHOLDER.sub(substitute, template) if "{" in template else template
        path, raw_path = split_path(raw)
        query = [(name, value) for name, value in parameters.items() if name not in used]
        body, content_type = _body(event)
        headers: Headers = []
        if content_type is not None:
            headers.append((b"content-type", header_bytes(content_type)))
            headers.append((b"content-length", str(len(body)).encode("ascii")))
        scope = make_scope(
            event,
            context,
            method,
            path,
            raw_path,
            "",
            urlencode(query).encode("ascii") if query else b"",
            headers,
            {},
            None,  # the agent is no network client
            None,
            None,
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
        content_type = grouped.get("content-type")
        mime = content_type[0].partition(";")[0].strip().lower() if content_type else ""
        result: LambdaResult = {
            "messageVersion": event.get("messageVersion") or "1.0",
            "response": {
                "actionGroup": event.get("actionGroup"),
                "apiPath": event.get("apiPath"),
                "httpMethod": event.get("httpMethod"),
                "httpStatusCode": status,
                # Keyed by the response's content type; the agent reads "body" as text.
                "responseBody": {mime or "application/json": {"body": text}},
            },
        }
        check_size(result, text, is_base64)
        return result
