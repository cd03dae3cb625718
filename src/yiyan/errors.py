"""User-facing errors.

Anything a user can cause (a bad file, a bad config key, a missing checkpoint) raises
`YiyanError` with a one-line message; the CLI prints it and exits non-zero, never a
traceback. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations


class YiyanError(Exception):
    """An error caused by the user's input, with a message meant for the user."""


class ConfigError(YiyanError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class DataError(YiyanError):
    """A corpus file is unreadable or malformed; the message names the file and line."""

    def __init__(self, path: object, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class CheckpointError(YiyanError):
    """A run directory or checkpoint is missing, corrupt, or does not match the config."""
