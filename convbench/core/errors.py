"""The one exception type of the library; only cli.py turns it into a message and an exit code."""


class ConvbenchError(Exception):
    """A problem the user can act on. ``str(err)`` is a complete one-line message."""

    #: exit status the CLI uses: 2 for bad input found before anything ran, 1 otherwise
    exit_code = 1


class UsageError(ConvbenchError):
    """Bad input (arguments, configuration, environment) found before anything is launched."""

    exit_code = 2
