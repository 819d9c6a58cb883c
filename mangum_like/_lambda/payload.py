"""What Lambda carries to and from a function: its payload quotas, and results as JSON.

A result is written to the very text the official Python runtime client writes, so that the
runtime loop posts the same bytes and the CLI hands on (and sizes) the same result. ``import
mangum_like`` loads this module for ``MAX_RESULT_BYTES``: ``json`` loads when a result is
written, not before.
"""

from __future__ import annotations

from typing import Any

#: Lambda refuses a buffered response whose JSON payload exceeds 6 MiB + 100 bytes
#: ("Exceeded maximum allowed payload size (6291556 bytes)").
MAX_RESULT_BYTES = 6_291_556
#: Lambda's quota for a streamed response ("Response streaming for Lambda functions": 200 MB,
#: against 6 MB for a buffered one).
MAX_STREAMED_BYTES = 200 * 1024 * 1024
#: Lambda's quota for a synchronous invocation's request payload ("Lambda quotas": 6 MB).
MAX_EVENT_BYTES = 6 * 1024 * 1024

# AWS_EXECUTION_ENV values of the runtimes on which the official client writes results with
# ensure_ascii=False (UTF-8 as it is): python3.12 and later. On earlier ones it escapes every
# non-ASCII character.
_UTF8_RUNTIMES = frozenset(f"AWS_Lambda_python3.{minor}" for minor in range(12, 20))


def escapes_non_ascii(execution_env: str | None) -> bool:
    """Whether the official client escapes non-ASCII characters in results on the runtime
    ``execution_env`` (an ``AWS_EXECUTION_ENV`` value) names: the ``ensure_ascii`` of
    ``to_json``."""
    return execution_env not in _UTF8_RUNTIMES


def to_json(result: Any, ensure_ascii: bool) -> str:
    """``result`` serialised to the very text the official client produces.

    The official client uses simplejson with its default separators (``", "``, ``": "``),
    ``allow_nan=True`` and Decimal written as its own digits (``1.10``, not ``1.1``), NaN
    Decimals as ``NaN``. The standard library's encoder gives the same text for every JSON type;
    Decimals are written through placeholders replaced afterwards. One difference is left: a
    namedtuple, which simplejson writes as an object, is written as a list here (the standard
    library encodes tuples itself, without asking ``default``).
    """
    import json

    decimals: list[str] = []

    def default(value: Any) -> Any:
        import decimal

        if isinstance(value, decimal.Decimal):
            decimals.append("NaN" if value.is_nan() else str(value))
            return _DECIMAL_MARK
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    text = json.dumps(result, ensure_ascii=ensure_ascii, allow_nan=True, default=default)
    if decimals:
        parts = text.split(_DECIMAL_QUOTED)
        if len(parts) == len(decimals) + 1:
            text = "".join(
                part + (decimals[index] if index < len(decimals) else "")
                for index, part in enumerate(parts)
            )
    return text


# A string no result contains; written quoted, then swapped for the Decimal's digits.
_DECIMAL_MARK = "\x00mangum_like.decimal\x00"
_DECIMAL_QUOTED = '"\\u0000mangum_like.decimal\\u0000"'  # json.dumps(_DECIMAL_MARK), either way
