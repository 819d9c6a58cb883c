"""The handler setting: which attribute of which module is the function's handler.

Lambda's Python runtime takes ``module.attribute`` ("Define Lambda function handler in
Python"); mangum_like also takes ``module:attribute``, as ASGI servers do, the attribute
possibly dotted (``app:Holder.handler``). The runtime loop and the CLI both read a handler
setting this way, and each reports a setting it cannot resolve in its own words.
"""

from __future__ import annotations

from typing import Any


def split_handler(name: str) -> tuple[str, str]:
    """``name`` as its module and its attribute; one is empty when ``name`` is malformed."""
    if ":" in name:
        module, _, attribute = name.partition(":")
    else:
        module, _, attribute = name.rpartition(".")
    return module, attribute


def find_attribute(module: object, attribute: str) -> Any:
    """What the dotted ``attribute`` names in ``module``; AttributeError if a part is missing."""
    target: Any = module
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


# What the handler setting names: the runtime loop and the CLI ask this one question the same way.
MANGUM = "mangum"  # a Mangum itself: the runtime may drive its pipeline directly
HANDLER = "handler"  # anything else called as handler(event, context), as the official client does
APP = "app"  # a bare ASGI application, to be wrapped in Mangum(app)


def handler_kind(target: Any) -> str:
    """``MANGUM``, ``HANDLER`` or ``APP``: how the object a handler setting names is to be run.

    - A ``Mangum`` (its type, not what it claims: a wrapt proxy around one passes
      ``isinstance`` and is still a wrapper) is ``MANGUM``.
    - An ASGI application is ``APP``: a coroutine function, an object whose ``__call__`` is
      one (Starlette, FastAPI, Quart, Django's ASGIHandler), or a callable whose own signature
      takes exactly the three ASGI arguments. The signature read is the object's own: a
      ``functools.wraps`` decorator around a Mangum has ``(*args, **kwargs)``, and following
      ``__wrapped__`` would find the Mangum's instead.
    - Anything else that is callable, whatever wraps what, is ``HANDLER``: a plain
      ``def handler(event, context)``, Powertools', Sentry's and OpenTelemetry's wrappers.

    ``TypeError`` if ``target`` is not callable.
    """
    import inspect

    from .._adapter import Mangum

    if isinstance(type(target), type) and issubclass(type(target), Mangum):
        return MANGUM
    if not callable(target):
        raise TypeError(f"{target!r} is not callable: neither a Lambda handler nor an ASGI app")
    if isinstance(target, Mangum):  # a proxy that poses as one: call it as it is
        return HANDLER
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(type(target), "__call__", None)  # noqa: B004 (the type's __call__, on purpose)
    ):
        return APP
    try:
        parameters = inspect.signature(target, follow_wrapped=False).parameters.values()
    except (TypeError, ValueError):
        return HANDLER
    required = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return APP if len(required) == 3 else HANDLER
