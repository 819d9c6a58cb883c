"""Events of no HTTP source (SQS, SNS, S3, EventBridge, streams, ...) POSTed to one app route.

With ``pass_through_path="/events"`` the app receives each such event as a JSON request body
and answers the Lambda result as JSON: for SQS, Kinesis and DynamoDB stream sources that is
where a partial batch response (``{"batchItemFailures": [...]}``, "Handling errors for an SQS
event source", Lambda developer guide) goes. Any other answer fails the invocation, so that
Lambda retries the event or batch as the source's retry policy says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._exceptions import PassThroughFailed
from ._base import group_headers, make_scope, split_path

if TYPE_CHECKING:
    from .._types import Headers, LambdaContext, LambdaEvent, LambdaResult, Scope
    from ._base import SourceConfig


class PassThrough:
    """Hands a non-HTTP event to the app as ``POST <path>`` with the event as JSON."""

    name = "pass-through"

    __slots__ = ("config", "path", "raw_path")

    def __init__(self, config: SourceConfig, path: str) -> None:
        self.config = config
        self.path, self.raw_path = split_path(path)

    def request(self, event: LambdaEvent, context: LambdaContext) -> tuple[Scope, bytes]:
        import json  # on first use, so that "import mangum_like" stays light

        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers: Headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
        ]
        scope = make_scope(
            event,
            context,
            "POST",
            self.path,
            self.raw_path,
            "",
            b"",
            headers,
            {},
            None,
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
        where = f"the app's answer to POST {self.path}"
        if not 200 <= status < 300:
            raise PassThroughFailed(
                f"{where} is {status}, not 2xx: failing the invocation so that Lambda retries "
                f"the event ({_excerpt(body)})"
            )
        if not body:
            # Nothing to report (a 204): the whole event or batch succeeded; Lambda's result
            # is null. Other answers may be any JSON value, not only an object.
            return None  # type: ignore[return-value]
        content_type = group_headers(headers, self.config).get("content-type")
        mime = content_type[0].partition(";")[0].strip().lower() if content_type else ""
        if mime != "application/json" and not mime.endswith("+json"):
            raise PassThroughFailed(
                f"{where} has content type {mime or 'none'!r}; it must be JSON "
                "(application/json), which becomes the Lambda result"
            )
        try:
            import json  # on first use, so that "import mangum_like" stays light

            parsed: LambdaResult = json.loads(body)
        except ValueError as exc:
            raise PassThroughFailed(f"{where} is not valid JSON ({_excerpt(body)})") from exc
        return parsed


def _excerpt(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace")
    return repr(text) + ("..." if len(body) > 200 else "")
