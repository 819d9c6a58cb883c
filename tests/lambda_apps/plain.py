"""Plain ``handler(event, context)`` functions (no ASGI) that the runtime tests run under both
our runtime and the official client: same events in, the bytes they post compared."""

from __future__ import annotations

import logging
import os
from decimal import Decimal
from typing import Any


def values(event: Any, context: Any) -> Any:
    """Every kind of value a handler returns: the serialisation must match byte for byte."""
    kind = event.get("kind") if isinstance(event, dict) else None
    if kind == "bytes":
        return b"\x00raw bytes\xff"
    if kind == "decimal":
        return {
            "price": Decimal("1.10"),
            "big": Decimal("1E+2"),
            "nan": Decimal("NaN"),
            "list": [Decimal("-0.000"), Decimal("3")],
        }
    if kind == "text":
        return 'h\u00e9llo \u2713 \U0001f600 \u2028 "quoted" \\ \n\t\x01'
    if kind == "numbers":
        return {
            "int": 10**20,
            "float": 0.1 + 0.2,
            "exp": 1e300,
            "neg": -0.0,
            "inf": float("inf"),
            "ninf": float("-inf"),
            "nan": float("nan"),
        }
    if kind == "none":
        return None
    if kind == "fail":
        raise ValueError("the handler failed: \u00e9")
    if kind == "unserialisable":
        return {"set": {1, 2}}
    return {
        "event": event,
        "keys": {2: "int key", True: "bool key", None: "none key", 1.5: "float key"},
        "tuple": (1, "two"),
        "nested": [{"a": []}, {}],
    }


def context(event: Any, context: Any) -> Any:
    """The context object's attributes, and the trace id of this invocation."""
    client = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": [
            context.identity.cognito_identity_id,
            context.identity.cognito_identity_pool_id,
        ],
        "client_context": None
        if client is None
        else {
            "custom": client.custom,
            "env": client.env,
            "client": None
            if client.client is None
            else [
                client.client.installation_id,
                client.client.app_title,
                client.client.app_version_name,
                client.client.app_version_code,
                client.client.app_package_name,
            ],
        },
        "remaining_positive": 0 < context.get_remaining_time_in_millis() <= 10_000,
        "remaining_type": type(context.get_remaining_time_in_millis()).__name__,
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
    }


def logs(event: Any, context: Any) -> Any:
    """Logs one line at INFO and one at WARNING through the root logger."""
    logging.getLogger("function").info("an info line")
    logging.getLogger("function").warning("a warning line")
    return None
