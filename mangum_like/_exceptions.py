"""Every exception mangum_like raises, under one base class.

MangumLikeError
 +-- ConfigurationError     an option passed to Mangum() is invalid
 +-- LifespanFailure        the app's lifespan startup failed or did not finish
 |    +-- LifespanUnsupported   lifespan="on" but the app does not speak lifespan
 +-- UnexpectedMessage      the app sent an ASGI message out of order or unknown
 +-- UnsupportedEvent       the Lambda event comes from no HTTP source mangum_like knows
 +-- InvalidRequest         the event is HTTP-shaped but its data is unusable (answers 400)
 +-- PassThroughFailed      the app's answer to a passed-through event is not 2xx JSON
 +-- InvocationFailed       lambda_errors: the app's failure, reported as a Lambda function error
"""

from __future__ import annotations

from typing import Any


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


class InvocationFailed(MangumLikeError):
    """With ``Mangum(app, lambda_errors=...)``: the app raised, or answered a status chosen to
    count as a failure, and the invocation fails as a Lambda function error (the Errors metric,
    alarms, retries of asynchronous invocations and their destinations see it).

    ``status`` is what the app answered (500 when it raised before answering), ``method`` and
    ``path`` name the request, ``request_id`` the invocation; the app's exception, if any, is
    ``error`` and the ``__cause__``.
    """

    def __init__(
        self,
        status: int,
        method: Any,
        path: Any,
        request_id: Any = None,
        error: BaseException | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.request_id = request_id
        self.error = error
        what = f"{method} {path} answered {status}"
        if error is not None:
            what += f" after the app raised {type(error).__name__}: {error}"
        super().__init__(what)
