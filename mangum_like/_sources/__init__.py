"""Event sources: which source an event comes from, and the source objects themselves."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._exceptions import UnsupportedEvent
from ._alb import ALB
from ._apigateway import APIGatewayV1, APIGatewayV2
from ._base import SourceConfig

# Lambda@Edge, VPC Lattice, Bedrock agents and pass-through load with their first event (or
# with the handler that asks for pass-through): "import mangum_like" stays as light as the
# API Gateway and ALB sources need.

__all__ = ["SourceConfig", "Sources"]

SUPPORTED = (
    "API Gateway REST API and HTTP API payload 1.0, HTTP API payload 2.0, "
    "Lambda Function URL, Application Load Balancer, Lambda@Edge viewer and origin requests, "
    "VPC Lattice v1 and v2, Amazon Bedrock agent action groups (OpenAPI schema)"
)

if TYPE_CHECKING:
    from .._types import (
        EventSource,
        Headers,
        LambdaConfig,
        LambdaContext,
        LambdaEvent,
        LambdaResult,
        Scope,
    )


class CustomSource:
    """Adapts a Mangum-compatible handler class (``infer``, ``scope``, ``body``, ``__call__``)."""

    __slots__ = ("handler_class", "lambda_config", "name")

    def __init__(self, handler_class: Any, lambda_config: LambdaConfig) -> None:
        self.handler_class = handler_class
        self.lambda_config = lambda_config
        self.name = getattr(handler_class, "__name__", repr(handler_class))

    def infer(self, event: Any, context: LambdaContext) -> bool:
        return bool(self.handler_class.infer(event, context, self.lambda_config))

    def request(self, event: LambdaEvent, context: LambdaContext) -> tuple[Scope, bytes]:
        handler = self.handler_class(event, context, self.lambda_config)
        return handler.scope, handler.body

    def response(
        self,
        event: LambdaEvent,
        context: LambdaContext,
        status: int,
        headers: Headers,
        body: bytes,
    ) -> LambdaResult:
        handler = self.handler_class(event, context, self.lambda_config)
        result: LambdaResult = handler({"status": status, "headers": headers, "body": body})
        return result


class Sources:
    """Tells which source an event comes from: custom handlers first, then by structure.

    The checks are a few key lookups, ordered so that lookalikes never pass: ALB and API
    Gateway authorizer and WebSocket events also carry ``httpMethod`` and ``path``; Lambda
    authorizers for HTTP APIs share the 2.0 shape; VPC Lattice v2 declares ``version: "2.0"``
    like HTTP API payload 2.0 but has no ``requestContext.http``; SQS, SNS and S3 events also
    carry ``Records``, but not ``cf``.
    """

    __slots__ = (
        "_bedrock",
        "_edge",
        "_lattice_v1",
        "_lattice_v2",
        "alb",
        "config",
        "custom",
        "pass_through",
        "v1",
        "v2",
    )

    def __init__(
        self,
        config: SourceConfig,
        custom_handlers: Sequence[Any],
        lambda_config: LambdaConfig,
        pass_through_path: str | None = None,
    ) -> None:
        self.config = config
        self.custom = tuple(CustomSource(cls, lambda_config) for cls in custom_handlers)
        self.v1 = APIGatewayV1(config)
        self.v2 = APIGatewayV2(config)
        self.alb = ALB(config)
        self._edge: EventSource | None = None
        self._lattice_v1: EventSource | None = None
        self._lattice_v2: EventSource | None = None
        self._bedrock: EventSource | None = None
        self.pass_through: EventSource | None = None
        if pass_through_path is not None:
            from ._passthrough import PassThrough

            self.pass_through = PassThrough(config, pass_through_path)

    def _load(self, slot: str, module: str, name: str) -> EventSource:
        """The source in ``slot``, made on first use from class ``name`` of ``module``."""
        source: EventSource | None = getattr(self, slot)
        if source is None:
            source_class = getattr(importlib.import_module(module, __package__), name)
            source = source_class(self.config)
            setattr(self, slot, source)
        return source

    @property
    def edge(self) -> EventSource:
        return self._edge or self._load("_edge", "._edge", "LambdaEdge")

    @property
    def lattice_v1(self) -> EventSource:
        return self._lattice_v1 or self._load("_lattice_v1", "._lattice", "LatticeV1")

    @property
    def lattice_v2(self) -> EventSource:
        return self._lattice_v2 or self._load("_lattice_v2", "._lattice", "LatticeV2")

    @property
    def bedrock(self) -> EventSource:
        return self._bedrock or self._load("_bedrock", "._bedrock", "BedrockAgent")

    def detect(self, event: Any, context: LambdaContext) -> EventSource:
        for custom in self.custom:
            if custom.infer(event, context):
                return custom
        if isinstance(event, dict):
            request_context = event.get("requestContext")
            if isinstance(request_context, dict):
                if "elb" in request_context:
                    return self.alb
                if "http" in request_context:
                    # Lambda authorizers for HTTP APIs share the 2.0 shape but name a route.
                    # The declared payload version decides: a 1.0 event may carry "http" too.
                    if "routeArn" not in event and event.get("version") != "1.0":
                        return self.v2
                elif "eventType" in request_context:
                    return self.unsupported(event)  # WebSocket API: CONNECT / MESSAGE / ...
                elif "targetGroupArn" in request_context or "serviceNetworkArn" in request_context:
                    if "method" in event:
                        return self.lattice_v2
                    return self.unsupported(event)
                if "httpMethod" in event and "path" in event and "methodArn" not in event:
                    return self.v1
            elif "httpMethod" in event and "path" in event and "methodArn" not in event:
                return self.v1
            elif "raw_path" in event and "method" in event:
                return self.lattice_v1
            elif "apiPath" in event and "messageVersion" in event and "agent" in event:
                return self.bedrock  # action groups defined by a function have no apiPath
            elif "Records" in event and _edge_request(event):
                return self.edge
        return self.unsupported(event)

    def unsupported(self, event: Any) -> EventSource:
        if self.pass_through is not None:
            return self.pass_through
        raise unsupported(event)


def _edge_request(event: dict[str, Any]) -> bool:
    """A CloudFront viewer- or origin-request event; response triggers also carry the request."""
    records = event["Records"]
    if records.__class__ is not list or not records or records[0].__class__ is not dict:
        return False
    cf = records[0].get("cf")
    return cf.__class__ is dict and cf.get("request").__class__ is dict and "response" not in cf


def unsupported(event: Any) -> UnsupportedEvent:
    if isinstance(event, dict) and "DurableExecutionArn" in event and "CheckpointToken" in event:
        # Lambda durable functions (developer guide, "Lambda durable functions"): each
        # invocation of a durable execution carries its ARN and the token of its checkpoint.
        return UnsupportedEvent(
            "This is an invocation of a Lambda durable function (the event has "
            "DurableExecutionArn and CheckpointToken): its steps and checkpoints are driven by "
            "the durable execution SDK's handler, not by an HTTP request. Turn durable "
            "execution off for this function (DurableConfig in the function's configuration), "
            "or give the durable workflow a function of its own, decorated with the SDK's "
            "@durable_execution, and call the ASGI app's function from it."
        )
    websocket = _websocket_event(event)
    if isinstance(event, dict):
        keys = sorted(str(key) for key in event)
        seen = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "") if keys else "none"
        what = f"an event with top-level keys: {seen}"
    else:
        what = f"an event of type {type(event).__name__}"
    return UnsupportedEvent(
        f"{websocket}mangum_like cannot tell which HTTP source sent {what}. Supported sources: "
        f"{SUPPORTED}. Pass pass_through_path='/events' to POST other events to the app as "
        "JSON, or custom_handlers=[...] to map them yourself."
    )


def _websocket_event(event: Any) -> str:
    """What to say first of an event of an API Gateway WebSocket API, or nothing.

    Their ``requestContext`` has a ``connectionId`` and an ``eventType`` of ``CONNECT``,
    ``MESSAGE`` or ``DISCONNECT`` ("WebSocket APIs" in the API Gateway developer guide).
    """
    context = event.get("requestContext") if isinstance(event, dict) else None
    if not isinstance(context, dict) or "connectionId" not in context:
        return ""
    kind = context.get("eventType")
    if kind not in ("CONNECT", "MESSAGE", "DISCONNECT"):
        return ""
    return (
        f"This is an event of an API Gateway WebSocket API ({kind} on route "
        f"{context.get('routeKey')!r}, connection {context.get('connectionId')!r}): WebSocket "
        "APIs are not among mangum_like's sources yet; serve them from a function of their own. "
    )
