"""A Lambda context object for invocations made outside Lambda (the CLI, a runtime loop).

It carries the attributes the Python runtime's context has ("Using the Lambda context object to
retrieve Python function information", Lambda developer guide). The deadline is an absolute
time in epoch milliseconds, as the Runtime API's ``Lambda-Runtime-Deadline-Ms`` header gives it,
so ``get_remaining_time_in_millis`` counts down the same way it does on Lambda.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

DEFAULT_FUNCTION_NAME = "mangum-like-local"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"


class LambdaContext:
    """The context of one invocation; the second argument Lambda passes to a handler."""

    __slots__ = (
        "aws_request_id",
        "client_context",
        "deadline_ms",
        "function_name",
        "function_version",
        "identity",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
    )

    def __init__(
        self,
        *,
        aws_request_id: str,
        deadline_ms: int,
        function_name: str = DEFAULT_FUNCTION_NAME,
        function_version: str = "$LATEST",
        invoked_function_arn: str | None = None,
        memory_limit_in_mb: int = 128,
        log_group_name: str | None = None,
        log_stream_name: str | None = None,
        identity: Any = None,
        client_context: Any = None,
    ) -> None:
        self.aws_request_id = aws_request_id
        self.deadline_ms = deadline_ms
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = invoked_function_arn or (
            f"arn:aws:lambda:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:function:{function_name}"
        )
        self.memory_limit_in_mb = memory_limit_in_mb
        self.log_group_name = log_group_name or f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name or (
            time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{function_version}]{uuid.uuid4().hex}"
        )
        self.identity = identity
        self.client_context = client_context

    @classmethod
    def local(cls, timeout: float, *, aws_request_id: str | None = None) -> LambdaContext:
        """A context whose deadline is ``timeout`` seconds from now, as a new invocation's is."""
        return cls(
            aws_request_id=aws_request_id or str(uuid.uuid4()),
            deadline_ms=int(time.time() * 1000 + timeout * 1000),
        )

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation's deadline; 0 once it has passed."""
        return max(0, self.deadline_ms - int(time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(aws_request_id={self.aws_request_id!r}, "
            f"function_name={self.function_name!r}, "
            f"remaining_ms={self.get_remaining_time_in_millis()})"
        )
