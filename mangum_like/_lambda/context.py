"""The context object, the second argument Lambda passes to a handler.

It has the official Python runtime's attributes and behaviour ("Using the Lambda context object
to retrieve Python function information", Lambda developer guide): the runtime loop makes one
per invocation from the Runtime API's headers, the CLI one per local invocation with
``LambdaContext.local``. The deadline is an absolute time in epoch milliseconds, as the
``Lambda-Runtime-Deadline-Ms`` header gives it, so ``get_remaining_time_in_millis`` counts down
the same way in both.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import Any

_W3C_FIELDS = ("traceparent", "tracestate", "baggage")

#: The function a local invocation (``LambdaContext.local``) belongs to, and where it lives.
DEFAULT_FUNCTION_NAME = "mangum-like-local"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
_LOCAL_ARN = f"arn:aws:lambda:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:function:{DEFAULT_FUNCTION_NAME}"


class CognitoIdentity:
    """``context.identity``: the Amazon Cognito identity of a mobile-SDK caller, if any."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, identity: dict[str, Any] | None = None) -> None:
        identity = identity or {}
        self.cognito_identity_id: str | None = identity.get("cognitoIdentityId")
        self.cognito_identity_pool_id: str | None = identity.get("cognitoIdentityPoolId")

    def __repr__(self) -> str:
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    """``context.client_context.client``: the mobile app that invoked the function."""

    __slots__ = (
        "app_package_name",
        "app_title",
        "app_version_code",
        "app_version_name",
        "installation_id",
    )

    def __init__(self, client: dict[str, Any]) -> None:
        self.installation_id: Any = client.get("installation_id")
        self.app_title: Any = client.get("app_title")
        self.app_version_name: Any = client.get("app_version_name")
        self.app_version_code: Any = client.get("app_version_code")
        self.app_package_name: Any = client.get("app_package_name")

    def __repr__(self) -> str:
        return (
            f"Client([installation_id={self.installation_id},app_title={self.app_title},"
            f"app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}])"
        )


class ClientContext:
    """``context.client_context``: what the invoking client passed (``custom``, ``env``)."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, context: dict[str, Any]) -> None:
        self.custom: Any = context.get("custom")
        self.env: Any = context.get("env")
        client = context.get("client")
        self.client: Client | None = Client(client) if isinstance(client, dict) else client

    def __repr__(self) -> str:
        return f"ClientContext([custom={self.custom},env={self.env},client={self.client}])"


class LambdaContext:
    """The context object handed to the handler, with the official Python runtime's attributes.

    ``memory_limit_in_mb`` and ``function_version`` are strings, as the official client reads
    them from the environment: from ``environ`` when given, else from the variables Lambda set
    when the runtime started (``read_function_env``).
    """

    __slots__ = (
        "_deadline_ms",
        "_w3c",
        "aws_request_id",
        "client_context",
        "function_name",
        "function_version",
        "identity",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
        "tenant_id",
        "xray_trace_id",
    )

    def __init__(
        self,
        aws_request_id: str,
        deadline_ms: int,
        invoked_function_arn: str | None = None,
        client_context: dict[str, Any] | None = None,
        identity: dict[str, Any] | None = None,
        tenant_id: str | None = None,
        environ: Mapping[str, str | None] | None = None,
        xray_trace_id: str | None = None,
    ) -> None:
        env = _FUNCTION_ENV if environ is None else environ
        self.aws_request_id = aws_request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.tenant_id = tenant_id
        # The invocation's X-Ray trace header (``Lambda-Runtime-Trace-Id``): where each
        # invocation finds its own when several run at once (_X_AMZN_TRACE_ID is process-wide).
        self.xray_trace_id = xray_trace_id
        self.identity = CognitoIdentity(identity)
        # The W3C trace context a caller passed in the client context's "w3c" object; like the
        # official client (awslambdaric 4.2), it is taken out of client_context, and only its
        # string fields traceparent, tracestate and baggage are kept.
        self._w3c: dict[str, str] = {}
        if isinstance(client_context, dict) and "w3c" in client_context:
            client_context = dict(client_context)
            fields = client_context.pop("w3c")
            if isinstance(fields, dict):
                self._w3c = {
                    key: value for key in _W3C_FIELDS if isinstance(value := fields.get(key), str)
                }
        self.client_context = ClientContext(client_context) if client_context is not None else None
        self._deadline_ms = deadline_ms

    @classmethod
    def local(cls, timeout: float, *, aws_request_id: str | None = None) -> LambdaContext:
        """The context of an invocation made outside Lambda, by the CLI.

        A new request id, a deadline ``timeout`` seconds from now, and what Lambda would set for
        a function named ``mangum-like-local`` with 128 MB: its ARN, version ``$LATEST``, its
        log group and a log stream named as Lambda names them.
        """
        import uuid

        stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[$LATEST]{uuid.uuid4().hex}"
        environ = {
            "AWS_LAMBDA_FUNCTION_NAME": DEFAULT_FUNCTION_NAME,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{DEFAULT_FUNCTION_NAME}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        }
        return cls(
            aws_request_id or str(uuid.uuid4()),
            int(time.time() * 1000 + timeout * 1000),
            _LOCAL_ARN,
            environ=environ,
        )

    def w3c(self) -> dict[str, str]:
        """The W3C trace context (``traceparent``, ``tracestate``, ``baggage``) the invocation
        was made with, from its client context; empty when it carried none."""
        return dict(self._w3c)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda's deadline for this invocation (never negative)."""
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: str) -> None:
        """Write ``message`` to the function's log, as the official context does."""
        sys.stdout.write(str(message))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},identity={self.identity},"
            f"tenant_id={self.tenant_id}])"
        )


# Read once: Lambda sets these before the runtime starts and they never change.
_FUNCTION_ENV: dict[str, str | None] = {}


def read_function_env() -> None:
    """Read the function's settings Lambda passes in the environment, for every context to come."""
    for name in (
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
    ):
        _FUNCTION_ENV[name] = os.environ.get(name)
