"""Errors the user can act on. Their message is one line: what, where, what was expected, what to do.

The CLIs print `error: <message>` for these and exit non-zero; anything else is a bug and keeps its
traceback.
"""
from __future__ import annotations

__all__ = ["EffdetBatchError", "ConfigError", "CheckpointError", "InputError", "OutputError", "first_line"]


class EffdetBatchError(Exception):
    """Base class of the errors with a one-line, user-facing message."""

    exit_code = 1


class ConfigError(EffdetBatchError, ValueError):
    """A bad argument: unknown model, bad URI scheme, negative batch size..."""

    exit_code = 2


class CheckpointError(EffdetBatchError):
    """A checkpoint that is missing, unreachable, corrupt, of another variant or fails its sha256."""


class InputError(EffdetBatchError):
    """Input that cannot be read at all (missing prefix, unknown bucket)."""


class OutputError(EffdetBatchError):
    """An output location that cannot be written."""


def first_line(exc: BaseException) -> str:
    """An exception's message reduced to its first line (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
