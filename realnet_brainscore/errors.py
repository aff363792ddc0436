"""The one exception type for problems a user can fix (missing file, bad hash, bad data)."""


class RealnetError(Exception):
    """The command line prints the message as one line on stderr and exits with status 2."""


def first_line(error: Exception, skip_header: bool = False) -> str:
    """The first non-empty line of an exception's message (its type name if it has none);
    ``skip_header`` passes over a first line that only announces the rest ("Error(s) in ...:")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if skip_header and len(lines) > 1:
        lines = lines[1:]
    return lines[0] if lines else type(error).__name__
