"""Tab-separated tables a card names (an fMRI stimulus table, an Epochs event → image table): UTF-8
text, a header row, one row per entry; read as text with the csv module, never evaluated."""
import csv
import io
from pathlib import Path

from .. import bounds
from ..errors import RealnetError, printable
from ..files import regular_file

MAX_TABLE_BYTES = 256 * 2 ** 20  # a table of a million trials is tens of MB; more is not a stimulus table


def read_columns(path: Path, columns: tuple[str, ...], what: str) -> list[tuple[str, ...]]:
    """The cells of ``columns`` in each row of the TSV at ``path`` (``what`` names it), in row order;
    blank lines skipped, every named cell non-empty."""
    path = regular_file(path, what)
    bounds.check_at_most(path.stat().st_size, MAX_TABLE_BYTES, f'{path}: bytes of the {what}')
    try:
        text = path.read_bytes().decode('utf-8-sig')  # a spreadsheet's export may begin with a byte-order mark
    except UnicodeDecodeError as error:
        raise RealnetError(f'{path}: not a text file (byte {error.start} is not UTF-8); expected a '
                           'tab-separated table with a header row') from error
    rows = list(csv.reader(io.StringIO(text, newline=''), delimiter='\t'))
    header = rows[0] if rows else []
    absent = [column for column in columns if column not in header]
    if absent:
        names = ', '.join(printable(name)[:40] for name in header[:20]) or 'none'
        raise RealnetError(f'{path}: no column {absent[0]!r} (its columns: {names})')
    indices = [header.index(column) for column in columns]
    found = []
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line, as an editor leaves at the end
        if len(row) != len(header) or not all(row[i].strip() for i in indices):
            raise RealnetError(f'{path}:{number}: expected {len(header)} tab-separated cells, with a value in '
                               f'{" and ".join(map(repr, columns))}, got {len(row)}')
        found.append(tuple(row[i].strip() for i in indices))
    if not found:
        raise RealnetError(f'{path}: no rows under the header')
    return found
