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
