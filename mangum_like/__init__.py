"""Run any ASGI application on AWS Lambda: API Gateway, Function URLs, ALB, Lambda@Edge,
VPC Lattice and Bedrock agents."""

from ._adapter import Mangum
from ._exceptions import (
    ConfigurationError,
    InvocationFailed,
    LifespanFailure,
    LifespanUnsupported,
    MangumLikeError,
    PassThroughFailed,
    UnexpectedMessage,
    UnsupportedEvent,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "InvocationFailed",
    "LifespanFailure",
    "LifespanUnsupported",
    "Mangum",
    "MangumLikeError",
    "PassThroughFailed",
    "UnexpectedMessage",
    "UnsupportedEvent",
    "__version__",
]
