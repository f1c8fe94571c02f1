"""User-facing errors: the CLI turns these into a one-paragraph message and exit code 2."""


class UserError(Exception):
    """A mistake in usage, configuration or data that the user can fix (exit code 2)."""

    exit_code = 2

    def __init__(self, *args: object) -> None:
        # A DataLoader worker re-raises our errors as type("Caught X in DataLoader worker
        # ...\nOriginal Traceback ...: message"): keep the message, drop the traceback
        # (a user error is one paragraph, never a traceback).
        text = args[0] if len(args) == 1 and isinstance(args[0], str) else ""
        if text.startswith("Caught ") and "\nOriginal Traceback" in text:
            marker = f"{type(self).__module__}.{type(self).__qualname__}: "
            at = text.rfind(marker)
            if at >= 0:
                args = (text[at + len(marker) :].rstrip("\n"),)
        super().__init__(*args)


class ConfigError(UserError):
    """An experiment file or override is invalid; the message names the file and dotted key."""


class DataError(UserError):
    """A data set is missing or malformed; the message names the file, row or image."""


class RunError(UserError):
    """A run folder is missing, unreadable or in the wrong state for the request."""
