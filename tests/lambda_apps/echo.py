"""Plain Lambda handlers (no ASGI) for checking the emulator against the official runtime client."""

from __future__ import annotations

from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError(event["fail"])
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "client_context": None if context.client_context is None else context.client_context.custom,
        "identity_id": None if context.identity is None else context.identity.cognito_identity_id,
    }
