"""A small client of the Lambda Runtime API and Extensions API (standard library only).

Inside an execution environment, Lambda serves both APIs over plain HTTP/1.1 at the
``host:port`` in ``AWS_LAMBDA_RUNTIME_API`` (AWS Lambda developer guide, "Using the Lambda
runtime API for custom runtimes" and "Using the Lambda Extensions API"). The calls are few and
local, so ``http.client`` with one kept-alive connection per caller is all it takes: no thread
pool, no third-party client, nothing imported before it is needed.

Every request is written to the socket by hand and its answer read with ``http.client``'s
parser: the methods that HTTP instrumentation patches (``HTTPConnection.request``,
``putrequest``, ``getresponse``) are never called, so that no tracer or error reporter the app
installs takes the runtime's own requests for the app's.

``Connection`` is shared by everything that talks to these APIs: the no-op extension that makes
Lambda deliver SIGTERM (``register_extension`` and ``next_extension_event``), and a runtime loop
(``invocation/next``, ``/response``, ``/error``), which can also drive ``Connection.http`` itself
for chunked, streamed responses.
"""

from __future__ import annotations

import http.client
import json
from typing import Any, NamedTuple

RUNTIME_API_ENV = "AWS_LAMBDA_RUNTIME_API"
RUNTIME_PATH = "/2018-06-01/runtime"
EXTENSION_PATH = "/2020-01-01/extension"

# Extensions API headers (developer guide, "Extensions API reference").
EXTENSION_NAME = "Lambda-Extension-Name"
EXTENSION_IDENTIFIER = "Lambda-Extension-Identifier"


class RuntimeAPIError(Exception):
    """The Runtime or Extensions API answered with an unexpected status."""

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        detail = body.decode(errors="replace")[:300]
        super().__init__(f"{method} {path} answered {status}: {detail}")


class Reply(NamedTuple):
    """A complete answer of the API."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Connection:
    """One HTTP/1.1 connection to the API at ``address`` (``host:port``), kept alive.

    Not thread-safe: each thread that calls the API (the runtime loop, the extension's
    long-poll) holds its own. ``timeout`` is the socket timeout in seconds; ``None``, the default,
    suits the long-polls, which by design wait as long as Lambda has nothing to say.
    """

    def __init__(self, address: str, timeout: float | None = None) -> None:
        self.address = address
        self.timeout = timeout
        self.http = http.client.HTTPConnection(address, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request and read the whole answer (see ``exchange``)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.address}"]
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        if body is not None or method == "POST":
            lines.append(f"Content-Length: {len(body or b'')}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        status, names, answer = self.exchange(request)
        message = http.client.HTTPMessage()  # looked up whatever the case, as http.client does
        for name, value in names.items():
            message[name] = value
        return Reply(status, message, answer)

    def exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send one whole request in one write and read the answer, on the kept-alive connection:
        status, headers (lower-cased names), body.

        Every request of the runtime's takes this path (a runtime loop's ``/next`` and
        ``/response`` on each invocation), which costs about half of ``HTTPConnection.request``
        and ``getresponse``: the request goes out whole (``request`` writes headers and body
        apart: two packets, two wake-ups of the Runtime API), and the answer, a status line, a
        few headers and a body of known length from a local server, is read without the e-mail
        header parser. A kept-alive connection the API closed since its last use is reopened
        once, for requests whose answer never came (the request was not processed).
        """
        client = self.http
        for attempt in (0, 1):
            if client.sock is None:
                client.connect()
            sock = client.sock
            try:
                sock.sendall(request)
                # A reader for this answer only, as http.client has: one kept open would keep
                # the socket's descriptor open after the connection is closed.
                with sock.makefile("rb") as reader:
                    status, headers, body = read_answer(reader)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The API closed the kept-alive connection since its last use: reopen, once.
                client.close()
                if attempt:
                    raise
                continue
            if headers.get("connection", "").lower() == "close":
                client.close()
            return status, headers, body
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self.http.close()


def read_answer(reader: Any) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-cased names) and body of one HTTP/1.1 answer (RFC 9112)."""
    line = reader.readline(_LINE_MAX)
    if not line:
        raise http.client.RemoteDisconnected("the Runtime API closed the connection")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise http.client.BadStatusLine(repr(line))
    headers: dict[str, str] = {}
    while True:
        line = reader.readline(_LINE_MAX)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        pieces = []
        while size := int(reader.readline(_LINE_MAX).split(b";", 1)[0], 16):
            pieces.append(reader.read(size))
            reader.readline(_LINE_MAX)
        while reader.readline(_LINE_MAX) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return int(parts[1]), headers, b"".join(pieces)
    length = int(headers.get("content-length") or 0)
    body: bytes = reader.read(length) if length else b""
    if len(body) < length:
        raise http.client.IncompleteRead(body, length - len(body))
    return int(parts[1]), headers, body


_LINE_MAX = 65536 + 1


def register_extension(connection: Connection, name: str, events: list[str]) -> str:
    """Register an extension named ``name`` for ``events``; returns its identifier.

    Lambda accepts registrations during the Init phase only: afterwards (and for a name already
    taken) it answers with a 4xx status, raised here as ``RuntimeAPIError``.
    """
    path = f"{EXTENSION_PATH}/register"
    reply = connection.request(
        "POST",
        path,
        json.dumps({"events": events}).encode(),
        {EXTENSION_NAME: name, "Content-Type": "application/json"},
    )
    identifier = reply.headers.get(EXTENSION_IDENTIFIER)
    if reply.status != 200 or not identifier:
        raise RuntimeAPIError("POST", path, reply.status, reply.body)
    return identifier


def next_extension_event(connection: Connection, identifier: str) -> dict[str, Any]:
    """Wait for the extension's next lifecycle event (``INVOKE`` or ``SHUTDOWN``).

    Calling it also tells Lambda that the extension finished its work for the current phase; the
    Init phase ends only when every registered extension has called it once.
    """
    path = f"{EXTENSION_PATH}/event/next"
    reply = connection.request("GET", path, headers={EXTENSION_IDENTIFIER: identifier})
    if reply.status != 200:
        raise RuntimeAPIError("GET", path, reply.status, reply.body)
    event: dict[str, Any] = reply.json()
    return event
