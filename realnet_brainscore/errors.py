"""The one exception type for problems a user can fix (missing file, bad hash, bad data)."""


class RealnetError(Exception):
    """The command line prints the message as one line on stderr and exits with status 2."""
