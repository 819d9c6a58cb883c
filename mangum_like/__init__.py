"""Run any ASGI application on AWS Lambda: API Gateway, Function URLs and ALB."""

from ._adapter import Mangum
from ._exceptions import (
    ConfigurationError,
    LifespanFailure,
    LifespanUnsupported,
    MangumLikeError,
    UnexpectedMessage,
    UnsupportedEvent,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "LifespanFailure",
    "LifespanUnsupported",
    "Mangum",
    "MangumLikeError",
    "UnexpectedMessage",
    "UnsupportedEvent",
    "__version__",
]
