"""Errors the user can act on. Their message is one line: what, where, what was expected, what to do.

The CLIs print `error: <message>` for these and exit non-zero; anything else is a bug and keeps its
traceback.
"""
from __future__ import annotations

import re

__all__ = ["EffdetBatchError", "ConfigError", "CheckpointError", "InputError", "OutputError", "RunError",
           "first_line", "cause_line", "scrub_credentials"]


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


class RunError(EffdetBatchError):
    """A run that stopped part-way; the rows it committed are kept and a rerun resumes."""


# user:password@ in URLs, and their query strings (pre-signed URLs carry their signature there).
_URL_USER = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@\"']*@")
_URL_QUERY = re.compile(r"(://[^\s?\"']*)\?[^\s\"']*")


def scrub_credentials(text: str) -> str:
    """`text` with every URL's user:password@ and query string removed: the one credential scrubber
    (uri.redact applies it to a single URI)."""
    return _URL_QUERY.sub(r"\1", _URL_USER.sub(r"\1", text))


def first_line(exc: BaseException) -> str:
    """An exception's message reduced to its first line (its type name when it has none), without
    the credentials of any URL in it: these lines end up in logs, rows and manifests."""
    text = str(exc).strip()
    return scrub_credentials(text.splitlines()[0]) if text else type(exc).__name__


# "package.module.SomeError: message" lines of a traceback's text.
_EXCEPTION_LINE = re.compile(r"^(?:\w+\.)*(\w+(?:Error|Exception)): (.+)$", re.M)
_WRAPPERS = {"UserCodeException", "RayTaskError", "RayActorError"}


def cause_line(exc: BaseException) -> str:
    """`Type: message` of the error that started it all. Ray hands a worker's error to the driver
    as text, innermost first and its own wrappers last, so it is read from there."""
    for match in _EXCEPTION_LINE.finditer(str(exc)):
        if match.group(1) not in _WRAPPERS:
            return f"{match.group(1)}: {scrub_credentials(match.group(2).strip())}"
    return f"{type(exc).__name__}: {first_line(exc)}"
