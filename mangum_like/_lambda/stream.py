"""The framing of a streamed response, as Lambda's response streaming defines it.

The body goes out in HTTP/1.1 chunks (RFC 9112 7.1), each as the function writes it: the
runtime loop writes them to the Runtime API, the dev server of ``mangum-like serve`` to its
client. The response of an HTTP event starts with a prelude, its JSON metadata (status, headers,
cookies) then 8 NUL bytes (``application/vnd.awslambda.http-integration-response``, "Lambda
proxy integration format for response streaming", API Gateway developer guide). A stream that
fails after its first byte ends with trailers holding the error's type and its error document,
base64-encoded ("Response streaming for custom runtimes", Lambda developer guide).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ERROR_BODY, ERROR_TYPE, error_result

if TYPE_CHECKING:
    import socket

HTTP_INTEGRATION_RESPONSE = "application/vnd.awslambda.http-integration-response"
#: What ends the prelude; JSON escapes every NUL inside strings, so the metadata holds none.
PRELUDE_DELIMITER = b"\0" * 8
#: The trailer fields a stream announces up front, for a failure after its first byte.
ERROR_TRAILERS = f"{ERROR_TYPE}, {ERROR_BODY}"
LAST_CHUNK = b"0\r\n\r\n"
_COPY_LIMIT = 64 * 1024  # up to this size a chunk is framed by copying, in one write


def prelude_bytes(metadata: dict[str, Any]) -> bytes:
    """The prelude of a streamed HTTP response: ``metadata`` as compact JSON, then the
    delimiter."""
    import json

    return json.dumps(metadata, separators=(",", ":")).encode("utf-8") + PRELUDE_DELIMITER


def send_chunk(sock: socket.socket, chunk: bytes) -> None:
    """Write ``chunk`` to ``sock`` as one chunk; the caller skips an empty one, which would end
    the body."""
    size = len(chunk)
    if size <= _COPY_LIMIT:
        sock.sendall(b"%x\r\n%b\r\n" % (size, chunk))
    else:  # large: no copy of the data, three writes (TCP_NODELAY is on)
        sock.sendall(b"%x\r\n" % size)
        sock.sendall(chunk)
        sock.sendall(b"\r\n")


def failed_last_chunk(error: BaseException) -> bytes:
    """The end of a stream that ``error`` broke: the last chunk, then the error trailers."""
    import base64
    import json

    document = error_result(error)
    document.pop("requestId")
    body = base64.b64encode(json.dumps(document).encode("utf-8"))
    error_type = document["errorType"].encode("latin-1", "replace")
    return b"0\r\n%b: %b\r\n%b: %b\r\n\r\n" % (
        ERROR_TYPE.encode(),
        error_type,
        ERROR_BODY.encode(),
        body,
    )
