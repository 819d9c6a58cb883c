"""ASGI and AWS Lambda shapes shared by the modules of mangum_like."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from typing_extensions import NotRequired, TypedDict

if TYPE_CHECKING:
    from ._http import HTTPCycle

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Any ASGI 3 application. The parameters are Any because frameworks type their own scopes and
# messages (Litestar's and Quart's TypedDicts, Django's stubs): a stricter callable type would
# reject their apps under mypy --strict, although they are valid ASGI.
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

LambdaEvent = dict[str, Any]
LambdaResult = dict[str, Any]
Headers = list[tuple[bytes, bytes]]
T = TypeVar("T")


class LambdaContext(Protocol):
    """The parts of the Lambda context object that mangum_like reads."""

    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...


class Response(TypedDict):
    """A complete HTTP response, as handed to an event source (Mangum's shape)."""

    status: int
    headers: Headers
    body: bytes


class LambdaConfig(TypedDict):
    """The options handed to Mangum-compatible custom handlers."""

    api_gateway_base_path: str
    text_mime_types: list[str]
    exclude_headers: list[str]


class APIGatewayProxyEventV1(TypedDict):
    """API Gateway REST API / HTTP API payload 1.0 proxy event (the fields read here)."""

    httpMethod: str
    path: str
    headers: NotRequired[dict[str, Any] | None]
    multiValueHeaders: NotRequired[dict[str, list[Any] | None] | None]
    queryStringParameters: NotRequired[dict[str, Any] | None]
    multiValueQueryStringParameters: NotRequired[dict[str, list[Any] | None] | None]
    body: NotRequired[str | None]
    isBase64Encoded: NotRequired[bool | None]
    requestContext: NotRequired[dict[str, Any] | None]


class APIGatewayProxyEventV2(TypedDict):
    """API Gateway HTTP API payload 2.0 and Lambda Function URL event (the fields read here)."""

    version: str
    rawPath: str
    rawQueryString: NotRequired[str]
    cookies: NotRequired[list[str] | None]
    headers: NotRequired[dict[str, Any] | None]
    body: NotRequired[str | None]
    isBase64Encoded: NotRequired[bool]
    requestContext: dict[str, Any]


class ALBEvent(TypedDict):
    """Application Load Balancer target event, single- or multi-value headers mode."""

    httpMethod: str
    path: str
    headers: NotRequired[dict[str, Any] | None]
    multiValueHeaders: NotRequired[dict[str, list[Any] | None] | None]
    queryStringParameters: NotRequired[dict[str, Any] | None]
    multiValueQueryStringParameters: NotRequired[dict[str, list[Any] | None] | None]
    body: NotRequired[str | None]
    isBase64Encoded: NotRequired[bool]
    requestContext: dict[str, Any]


class CloudFrontHeaderEntry(TypedDict):
    """One value of a CloudFront header: ``key`` is the name as the viewer cased it."""

    key: NotRequired[str]
    value: str


class CloudFrontBody(TypedDict):
    """The request body Lambda@Edge exposes with the IncludeBody option."""

    data: str
    encoding: NotRequired[str]  # "base64" | "text"
    action: NotRequired[str]  # "read-only" | "replace"
    inputTruncated: NotRequired[bool]


class CloudFrontRequest(TypedDict):
    """``Records[0].cf.request`` of a Lambda@Edge viewer- or origin-request event."""

    uri: str
    method: str
    clientIp: NotRequired[str]
    querystring: NotRequired[str]
    headers: NotRequired[dict[str, list[CloudFrontHeaderEntry]]]
    body: NotRequired[CloudFrontBody]


class VPCLatticeEventV1(TypedDict):
    """VPC Lattice event structure version 1 (snake_case fields)."""

    raw_path: str
    method: str
    headers: NotRequired[dict[str, str | list[str]] | None]
    query_string_parameters: NotRequired[dict[str, str | list[str]] | None]
    body: NotRequired[str | None]
    is_base64_encoded: NotRequired[bool]


class VPCLatticeEventV2(TypedDict):
    """VPC Lattice event structure version 2."""

    version: str
    path: str
    method: str
    headers: NotRequired[dict[str, list[str]] | None]
    queryStringParameters: NotRequired[dict[str, list[str]] | None]
    body: NotRequired[str | None]
    isBase64Encoded: NotRequired[bool]
    requestContext: dict[str, Any]


class BedrockAgentParameter(TypedDict):
    """A parameter or body property the agent fills in: the value always arrives as text."""

    name: str
    type: str
    value: str


class BedrockAgentEvent(TypedDict):
    """An Amazon Bedrock agent action-group event for an OpenAPI-schema action group."""

    messageVersion: str
    agent: dict[str, str]
    actionGroup: str
    apiPath: str
    httpMethod: str
    parameters: NotRequired[list[BedrockAgentParameter]]
    requestBody: NotRequired[dict[str, Any]]
    sessionAttributes: NotRequired[dict[str, str]]
    promptSessionAttributes: NotRequired[dict[str, str]]


class EventSource(Protocol):
    """One AWS event source: request mapping in, result mapping out."""

    name: str

    def request(self, event: LambdaEvent, context: LambdaContext) -> tuple[Scope, bytes]:
        """The ASGI http scope and the whole request body; ``InvalidRequest`` on bad data."""
        ...

    def response(
        self,
        event: LambdaEvent,
        context: LambdaContext,
        status: int,
        headers: Headers,
        body: bytes,
    ) -> LambdaResult:
        """The Lambda result that carries the response back to the event's caller."""
        ...


class ResponseStream(Protocol):
    """Where a streamed response goes (Lambda response streaming); writes raise ``OSError``.

    A stream that can tell when its client goes away (a local HTTP server, unlike Lambda) may
    also have ``watch(disconnected)``: ``Mangum.stream`` calls it before the app runs, with a
    function that any thread may call once the client is gone, so that the app's ``receive()``
    reports ``http.disconnect`` at once instead of at the next failed write.
    """

    def start(self, prelude: bytes) -> None:
        """Open the response with the source's prelude (status and headers)."""
        ...

    def write(self, chunk: bytes) -> None:
        """Send one body chunk now."""
        ...

    def end(self) -> None:
        """Complete the response."""
        ...

    def fail(self, error: BaseException) -> None:
        """End the response as failed (after ``start``: the client sees a cut-off body)."""
        ...


class Runtime(Protocol):
    """Runs coroutines on the environment's one loop."""

    in_flight: set[HTTPCycle]  # the invocations running on the loop (run_app keeps it)

    def run(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop and return its result; blocks the caller."""
        ...

    def run_app(
        self, app: ASGIApp, scope: Scope, cycle: HTTPCycle, budget: float | None, grace: float
    ) -> None:
        """Run one ASGI request through ``app`` on the loop; the app's exception propagates.

        With a ``budget`` (seconds), the request is cut short when it runs out: the app sees
        ``http.disconnect``, then is cancelled ``grace`` seconds later; ``cycle.expired`` tells.
        """
        ...

    def expire(self, cycle: HTTPCycle, grace: float) -> None:
        """Cut the request of ``cycle`` short now, as its budget running out would; any thread."""
        ...

    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the loop's thread soon; from any thread, a no-op once closed."""
        ...

    def running_here(self) -> bool:
        """Whether the loop is running in the calling thread right now (under a signal handler)."""
        ...

    def spawn(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        """Start ``fn()`` as a background task on the loop; returns a handle for ``cancel``."""
        ...

    def detach(self) -> None:
        """Run the loop in a thread of its own from now on: several threads may then call
        ``run_app`` at once, each waiting for its own request."""
        ...

    def cancel(self, handle: Any) -> None:
        """Cancel a task started by ``spawn``."""
        ...

    def close(self) -> None:
        """Cancel what still runs and release the loop; a later ``run`` starts a new one."""
        ...

    def close_from_anywhere(self) -> None:
        """``close``, callable from any thread, the loop's own included (finalisers)."""
        ...

    def new_event(self) -> Event:
        """An event of the loop's own library."""
        ...

    async def wait(self, event: Event, seconds: float | None) -> bool:
        """Wait for ``event`` at most ``seconds`` (None: no limit); whether it was set."""
        ...


class Event(Protocol):
    """What asyncio's, trio's and anyio's events share."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...

    async def wait(self) -> Any: ...
