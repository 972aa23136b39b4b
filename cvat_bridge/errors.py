"""Errors that end an export with a clear one-line message (exit code 2)."""

from __future__ import annotations


class CvatBridgeError(Exception):
    """Bad input or usage: the message is shown to the user as is."""


class BackupError(CvatBridgeError):
    """The task backup cannot be read or is not valid."""


class FormatError(CvatBridgeError):
    """The format is unknown, not implemented, or cannot hold this task."""
