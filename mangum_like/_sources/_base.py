"""What every event source shares: the protocol, request parsing and response encoding.

Data flows one way: a source turns its event into an ASGI scope and body, and later turns the
app's response into the result its AWS caller expects. Sources know nothing about event loops.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from .._exceptions import InvalidRequest
from .._lambda.payload import MAX_RESULT_BYTES

if TYPE_CHECKING:
    from .._types import Headers, LambdaContext, LambdaEvent, LambdaResult, Scope

logger = logging.getLogger("mangum_like")

# Content types sent as text: textual families and the common structured-text types.
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/ecmascript",
        "application/xml",
        "application/xhtml+xml",
        "application/x-www-form-urlencoded",
        "application/graphql",
        "application/yaml",
        "application/x-yaml",
        "image/svg+xml",
    }
)
_TEXT_SUFFIXES = ("+json", "+xml", "+yaml")

# Characters kept as they are when a raw path must be re-encoded (RFC 3986 pchar, "/" and "%").
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"

_REASONS: dict[int, str] = {}
# Request protocol ("HTTP/1.1") -> ASGI http_version
_HTTP_VERSIONS = {
    f"{prefix}/{version}": asgi
    for prefix in ("HTTP", "http")
    for version, asgi in (("1.0", "1.0"), ("1.1", "1.1"), ("2", "2"), ("2.0", "2"), ("3", "3"))
}
# Header names a source reads while it converts the headers, to fill the scope.
_SCOPE_HEADERS = frozenset({"host", "x-forwarded-proto", "x-forwarded-port", "x-forwarded-for"})


class SourceConfig:
    """The handler options that shape requests and results, prepared once per handler."""

    __slots__ = ("api_gateway_base_path", "exclude_headers", "text_cache", "text_mime_types")

    def __init__(
        self,
        api_gateway_base_path: str,
        text_mime_types: Iterable[str],
        exclude_headers: Iterable[str],
    ) -> None:
        base = "/" + api_gateway_base_path.strip("/")
        self.api_gateway_base_path = "" if base == "/" else base
        self.text_mime_types = frozenset(t.strip().lower() for t in text_mime_types)
        self.exclude_headers = frozenset(h.strip().lower() for h in exclude_headers)
        # content-type value -> is it text; a handful of values recur, so remember them.
        self.text_cache: dict[str, bool] = {}

    def is_text(self, content_type: str) -> bool:
        cached = self.text_cache.get(content_type)
        if cached is not None:
            return cached
        mime = content_type.partition(";")[0].strip().lower()
        text = (
            mime.startswith("text/")
            or mime in _TEXT_TYPES
            or mime.endswith(_TEXT_SUFFIXES)
            or mime in self.text_mime_types
        )
        if len(self.text_cache) < 256:
            self.text_cache[content_type] = text
        return text


# -- request side -------------------------------------------------------------------------------


def header_text(value: Any) -> str:
    """A header or parameter value as text; events may carry numbers or booleans."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


# Header names recur from one invocation to the next: each is lower-cased and encoded once.
# name -> (ASGI name bytes, the lower-cased name when the scope needs its value, else None)
_NAMES: dict[str, tuple[bytes, str | None]] = {}
_NAMES_MAX = 2048


def _name(name: str) -> tuple[bytes, str | None]:
    lname = name.lower()
    entry = (header_bytes(lname), lname if lname in _SCOPE_HEADERS else None)
    if len(_NAMES) < _NAMES_MAX:
        _NAMES[name] = entry
    return entry


def add_header_pairs(out: Headers, found: dict[str, str], pairs: Iterable[tuple[str, Any]]) -> None:
    """Append ``(name, value)`` pairs (``headers.items()``, or every value of a repeated name) to
    ``out``, and the values the scope needs to ``found``."""
    names = _NAMES
    for name, value in pairs:
        entry = names.get(name) or _name(name)
        if value.__class__ is not str:
            value = header_text(value)
        try:
            out.append((entry[0], value.encode("latin-1")))
        except UnicodeEncodeError:
            out.append((entry[0], value.encode("utf-8")))
        if entry[1] is not None:
            found[entry[1]] = value


def add_multi_value_headers(
    out: Headers, found: dict[str, str], multi: dict[str, Any], single: dict[str, Any] | None
) -> None:
    """Append ``multiValueHeaders`` (every value) and the names only ``headers`` carries.

    Both objects usually name the same headers, but some HTTP API payload 1.0 events have
    names in ``headers`` alone; those are added too, so nothing the client sent is lost.
    """
    names = _NAMES
    for name, values in multi.items():
        if values is None:
            continue
        if values.__class__ is not list:
            values = [values]
        entry = names.get(name) or _name(name)
        for value in values:
            if value.__class__ is not str:
                value = header_text(value)
            try:
                out.append((entry[0], value.encode("latin-1")))
            except UnicodeEncodeError:
                out.append((entry[0], value.encode("utf-8")))
            if entry[1] is not None:
                found[entry[1]] = value
    if single and not single.keys() <= multi.keys():
        seen = {name.lower() for name in multi}
        add_header_pairs(out, found, [(k, v) for k, v in single.items() if k.lower() not in seen])


def event_headers(event: LambdaEvent) -> tuple[Headers, dict[str, str]]:
    """The ASGI headers of a REST or ALB event, and the values the scope needs by name."""
    headers: Headers = []
    found: dict[str, str] = {}
    multi = event.get("multiValueHeaders")
    single = event.get("headers")
    if multi:
        add_multi_value_headers(headers, found, multi, single)
    elif single:
        add_header_pairs(headers, found, single.items())
    return headers, found


def split_path(raw: str) -> tuple[str, bytes]:
    """The decoded ``path`` and the ``raw_path`` bytes of a path as the event gives it.

    Decoding happens once, so ``%25`` becomes ``%`` and is never decoded again; ``%2F`` stays
    encoded in ``raw_path`` and is ``/`` only in ``path``.
    """
    if not raw.startswith("/"):
        raw = "/" + raw
    path = unquote(raw) if "%" in raw else raw
    if raw.isascii() and " " not in raw:
        return path, raw.encode("ascii")
    return path, quote(raw, safe=_PATH_SAFE).encode("ascii")


# What may stay as it is in the raw path of a path the service decoded: unreserved characters,
# sub-delims, ":", "@" and "/" (RFC 3986 3.3). "%" is not among them: in a decoded path it is
# a literal percent sign, encoded as "%25".
_DECODED_SAFE = "/!$&'()*+,;=:@-._~"
_DECODED_PLAIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + _DECODED_SAFE


def split_decoded_path(path: str) -> tuple[str, bytes]:
    """The ``path`` and ``raw_path`` of a path the service delivers already percent-decoded.

    API Gateway HTTP APIs decode the request path before the event is made (a client's
    ``/a%2Fb`` arrives as ``/a/b``, its ``/100%2525`` as ``/100%25``), so decoding it again
    would turn ``%25`` into ``%`` and ``%252e%252e`` into ``..``. The path is the app's as it
    stands; ``raw_path`` is that path encoded again, so that it decodes to ``path``.
    """
    if not path.startswith("/"):
        path = "/" + path
    if not path.rstrip(_DECODED_PLAIN):  # nothing to encode (the common case)
        return path, path.encode("ascii")
    return path, quote(path, safe=_DECODED_SAFE).encode("ascii")


def segment_prefix(path: str, prefix: str) -> bool:
    """Whether ``prefix`` starts ``path`` on whole segments: ``/api`` does not start ``/apiary``."""
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")


def http_version(protocol: Any) -> str:
    """The ASGI ``http_version`` of a request protocol such as ``HTTP/1.1``; "1.1" if unknown."""
    return _HTTP_VERSIONS.get(protocol, "1.1") if isinstance(protocol, str) else "1.1"


# (Host, X-Forwarded-Port, scheme) -> ASGI server: the same few recur on every invocation.
_SERVERS: dict[tuple[str, str | None, str], tuple[str, int]] = {}


def server_and_scheme(
    found: dict[str, str], domain_name: Any
) -> tuple[tuple[str, int] | None, str]:
    scheme = found.get("x-forwarded-proto") or "https"
    host = found.get("host") or (domain_name if domain_name.__class__ is str else None)
    if not host:
        return None, scheme
    key = (host, found.get("x-forwarded-port"), scheme)
    server = _SERVERS.get(key)
    if server is None:
        server = _parse_server(*key)
        if len(_SERVERS) < _NAMES_MAX:
            _SERVERS[key] = server
    return server, scheme


def _parse_server(host: str, port_text: str | None, scheme: str) -> tuple[str, int]:
    name, sep, port_part = host.rpartition(":")
    if sep and "]" not in port_part:  # "[::1]" has colons but no port
        host = name
        port_text = port_text or port_part
    if host.startswith("[") and host.endswith("]"):
        # An IPv6 literal (RFC 3986 3.2.2): the scope names the bare address, as uvicorn does.
        host = host[1:-1]
    if port_text and port_text.isdigit():
        return host, int(port_text)
    return host, 443 if scheme == "https" else 80


def decode_body(body: Any, is_base64: Any) -> bytes:
    if not body:
        return b""
    if not isinstance(body, str):
        raise InvalidRequest(f"the event's body must be a string, not {type(body).__name__}")
    if is_base64:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequest(
                "the event's body is flagged isBase64Encoded but is not valid base64"
            ) from exc
    return body.encode("utf-8")


def require_str(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"the event's {field} must be a non-empty string, got {value!r}")
    return value


def make_scope(
    event: LambdaEvent,
    context: LambdaContext,
    method: str,
    path: str,
    raw_path: bytes,
    root_path: str,
    query_string: bytes,
    headers: Headers,
    found: dict[str, str],
    client_ip: Any,
    protocol: Any,
    domain_name: Any,
) -> Scope:
    """The ASGI http scope; called positionally, as it is on every invocation."""
    server, scheme = server_and_scheme(found, domain_name)
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": http_version(protocol),
        "method": method if method.isupper() else method.upper(),
        "scheme": scheme,
        "path": path,
        "raw_path": raw_path,
        "root_path": root_path,
        "query_string": query_string,
        "headers": headers,
        "client": (client_ip, 0) if client_ip and client_ip.__class__ is str else None,
        "server": server,
        "aws.event": event,
        "aws.context": context,
    }


# -- response side ------------------------------------------------------------------------------


_RESPONSE_NAMES: dict[bytes, str] = {}


def group_headers(headers: Headers, config: SourceConfig) -> dict[str, list[str]]:
    """Response headers by lower-cased name, in order, every value kept, excluded ones dropped."""
    grouped: dict[str, list[str]] = {}
    exclude = config.exclude_headers
    names = _RESPONSE_NAMES
    for raw_name, raw_value in headers:
        name = names.get(raw_name)
        if name is None:
            name = raw_name.decode("latin-1").lower()
            if len(names) < _NAMES_MAX:
                names[bytes(raw_name)] = name
        if exclude and name in exclude:
            continue
        value = raw_value.decode("latin-1")
        values = grouped.get(name)
        if values is None:
            grouped[name] = [value]
        else:
            values.append(value)
    return grouped


def case_variants(name: str) -> Iterator[str]:
    """Distinct casings of a header name, lower case first: ``set-cookie``, ``Set-cookie``, ..."""
    letters = [i for i, char in enumerate(name) if char.isalpha()]
    for mask in range(1 << len(letters)):
        chars = list(name)
        for bit, index in enumerate(letters):
            if mask >> bit & 1:
                chars[index] = chars[index].upper()
        yield "".join(chars)


def single_value_headers(
    grouped: dict[str, list[str]], separator: str
) -> tuple[dict[str, str], int]:
    """Headers for results that take one string per name (ALB single-value mode, VPC Lattice),
    and how many Set-Cookie headers had to be spread over casings of the name.

    The values of a repeated field join into one, in order (RFC 9110 5.3); Set-Cookie cannot be
    joined (RFC 6265 3), so each cookie goes under its own casing of the name.
    """
    single: dict[str, str] = {}
    spread = 0
    for name, values in grouped.items():
        if len(values) == 1:
            single[name] = values[0]
        elif name != "set-cookie":
            single[name] = separator.join(values)
        else:
            spread_over_casings(single, name, values)
            spread = len(values)
    return single, spread


def spread_over_casings(single: dict[str, str], name: str, values: list[str]) -> None:
    """Put each value of a repeated header under its own casing of ``name``.

    For results that take one string per header name (ALB single-value mode, VPC Lattice):
    HTTP names are case-insensitive, so every value, each Set-Cookie above all, reaches the
    client as its own header line.
    """
    for variant, value in zip(islice(case_variants(name), len(values)), values, strict=False):
        single[variant] = value


def encode_body(
    body: bytes, grouped: dict[str, list[str]], config: SourceConfig
) -> tuple[str, bool]:
    """The body as Lambda carries it: text when textual, unencoded and UTF-8, else base64."""
    if not body:
        return "", False
    content_type = grouped.get("content-type")
    if content_type and "content-encoding" not in grouped and config.is_text(content_type[0]):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    encoded_size = 4 * ((len(body) + 2) // 3)
    if encoded_size > MAX_RESULT_BYTES:
        # Too large for Lambda whatever else the result holds: skip the encoding work.
        raise ResultTooLarge(encoded_size)
    return base64.b64encode(body).decode("ascii"), True


def reason(status: int) -> str:
    """The reason phrase of a status code ("Not Found"), "" for codes HTTP does not name."""
    if not _REASONS:
        from http import HTTPStatus

        _REASONS.update((code.value, code.phrase) for code in HTTPStatus)
    return _REASONS.get(status, "")


class ResultTooLarge(Exception):
    """Internal: the mapped result would exceed the payload limit of ``where``."""

    def __init__(self, size: int, limit: int = MAX_RESULT_BYTES, where: str = "AWS Lambda") -> None:
        super().__init__(size)
        self.size = size
        self.limit = limit
        self.where = where


def check_size(
    result: LambdaResult,
    body_text: str,
    is_base64: bool,
    limit: int = MAX_RESULT_BYTES,
    where: str = "AWS Lambda",
) -> None:
    """Raise ``ResultTooLarge`` when the serialised result would exceed ``limit`` bytes (Lambda's
    own by default; a source whose caller takes less names it)."""
    if len(body_text) < limit // 8:
        return  # even at 6 bytes a character once escaped, this fits beside any headers
    envelope = dict(result, body="")
    import json  # only for results of megabytes

    size = len(json.dumps(envelope, ensure_ascii=False).encode("utf-8"))
    if is_base64:
        size += len(body_text)  # base64 needs no JSON escaping
    else:
        size += len(json.dumps(body_text, ensure_ascii=False).encode("utf-8")) - 2
    if size > limit:
        raise ResultTooLarge(size, limit, where)
