"""Every exception mangum_like raises, under one base class.

MangumLikeError
 +-- ConfigurationError     an option passed to Mangum() is invalid
 +-- LifespanFailure        the app's lifespan startup failed or did not finish
 |    +-- LifespanUnsupported   lifespan="on" but the app does not speak lifespan
 +-- UnexpectedMessage      the app sent an ASGI message out of order or unknown
 +-- UnsupportedEvent       the Lambda event comes from no HTTP source mangum_like knows
 +-- InvalidRequest         the event is HTTP-shaped but its data is unusable (answers 400)
 +-- PassThroughFailed      the app's answer to a passed-through event is not 2xx JSON
"""

from __future__ import annotations


class MangumLikeError(Exception):
    """Base class of every exception raised by mangum_like."""


class ConfigurationError(MangumLikeError):
    """An option passed to ``Mangum`` is invalid; the message names the option and the choices."""


class LifespanFailure(MangumLikeError):
    """The application's lifespan startup (or shutdown) failed, raised or timed out."""


class LifespanUnsupported(LifespanFailure):
    """``lifespan="on"`` was asked for, but the application does not support lifespan."""


class UnexpectedMessage(MangumLikeError):
    """The application sent an ASGI message that is unknown or out of order."""


class UnsupportedEvent(MangumLikeError):
    """The Lambda event does not come from any HTTP event source mangum_like supports."""


class InvalidRequest(MangumLikeError):
    """An HTTP event carries data that cannot form a request; the client is answered 400."""


class PassThroughFailed(MangumLikeError):
    """The app answered a passed-through (non-HTTP) event with a non-2xx or non-JSON response.

    Raised from the invocation so that Lambda counts it as failed and retries the event or
    batch as the event source's retry policy says.
    """
