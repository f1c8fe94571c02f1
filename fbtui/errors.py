"""User-facing errors: the CLI turns these into a one-paragraph message and exit code 2."""


class UserError(Exception):
    """A mistake in usage, configuration or data that the user can fix (exit code 2)."""

    exit_code = 2


class ConfigError(UserError):
    """An experiment file or override is invalid; the message names the file and dotted key."""


class DataError(UserError):
    """A data set is missing or malformed; the message names the file, row or image."""


class RunError(UserError):
    """A run folder is missing, unreadable or in the wrong state for the request."""
