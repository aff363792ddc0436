"""The one exception type for problems a user can fix (missing file, bad hash, bad data), and how
text from files reaches a terminal."""


class RealnetError(Exception):
    """The command line prints the message as one line on stderr and exits with status 2."""


def first_line(error: Exception, skip_header: bool = False) -> str:
    """The first non-empty line of an exception's message (its type name if it has none);
    ``skip_header`` passes over a first line that only announces the rest ("Error(s) in ...:")."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if skip_header and len(lines) > 1:
        lines = lines[1:]
    return lines[0] if lines else type(error).__name__


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on (escape sequences, carriage returns,
    other control and format characters) shown as its escape code instead: text from a file
    (a model name, a metadata field) may be printed, never executed by the terminal."""
    return ''.join(character if character.isprintable() else character.encode('unicode_escape').decode('ascii')
                   for character in str(text))
