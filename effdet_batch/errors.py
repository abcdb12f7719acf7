"""Errors the user can act on. Their message is one line: what, where, what was expected, what to do.

The CLIs print `error: <message>` for these and exit non-zero; anything else is a bug and keeps its
traceback.
"""
from __future__ import annotations

__all__ = ["EffdetBatchError", "ConfigError", "CheckpointError", "InputError", "OutputError"]


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
