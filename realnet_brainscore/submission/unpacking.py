"""A submission zip read as Info-ZIP's UnZip 6.00 writes it, trusting nothing it declares.

Each entry's name is the one unzip gives it (a unicode-path extra field, 0x7075, whose CRC matches
the header name replaces that name), and it must be the name every other reader gives it too:
Python's zipfile before 3.12 ignores that field, a streaming reader takes the local header's. Entries
are plain files and folders under models/<plugin>/ or benchmarks/<plugin>/, unique once names are
compared as a case-insensitive, normalising file system compares them, and laid out without
overlapping (overlapping entries make a small zip a bomb). Contents are decompressed here, stored or
deflated only, counting the bytes actually produced: the CRC and the declared size must both hold.
"""
import contextlib
import stat
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass

from ..errors import RealnetError, first_line, printable

MAX_ENTRIES = 10_000  # a plugin folder holds tens of files; each entry costs a ZipInfo before anything is checked
_CENTRAL_RECORD = 1024  # bytes a directory record may take on average: 46 and a name, seldom extra fields
TOP_FOLDERS = ('models', 'benchmarks')
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what every unzip reads; bzip2/lzma are not universal
_UNICODE_PATH = 0x7075
_UTF8_NAME = 0x800  # general purpose flag bit 11: the header name is UTF-8
_ENCRYPTED = 0x1
_LOCAL_HEADER = struct.Struct('<4sHHHHHLLLHH')  # APPNOTE 4.3.7, as zipfile.structFileHeader
_CHUNK = 2**20  # at most this much is decompressed past a declared size before the lie is noticed
_KINDS = {stat.S_IFLNK: 'a symbolic link', stat.S_IFIFO: 'a FIFO', stat.S_IFCHR: 'a device', stat.S_IFBLK: 'a device',
          stat.S_IFSOCK: 'a socket'}


@dataclass(frozen=True)
class Entry:
    name: str             # the path unzip writes (a folder's ends with /)
    info: zipfile.ZipInfo
    data_start: int       # offset of its compressed bytes, from its local header

    @property
    def is_dir(self) -> bool:
        return self.name.endswith('/')


@contextlib.contextmanager
def readable(label):
    """zipfile's and zlib's errors as one line naming the zip: a zip that cannot be read whole."""
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError, struct.error, UnicodeDecodeError, NotImplementedError) as error:
        raise RealnetError(f'{label}: corrupt or unreadable zip ({printable(first_line(error))})') from error


def entries(stream, label) -> list[Entry]:
    """The entries of the zip open in ``stream`` once each is shown to be what unzip would write
    and safe to write; else one RealnetError line naming the first that is not. Nothing is
    decompressed."""
    # Before zipfile makes a ZipInfo of each: the end record's count, and the directory's size, since
    # zipfile reads records until that size is used up whatever the count says (private, unchanged since Python 2)
    end = zipfile._EndRecData(stream) or [0] * 10
    too_many = RealnetError(f'{label}: over {MAX_ENTRIES} entries; a submission holds at most {MAX_ENTRIES}')
    if end[zipfile._ECD_ENTRIES_TOTAL] > MAX_ENTRIES or end[zipfile._ECD_SIZE] > MAX_ENTRIES * _CENTRAL_RECORD:
        raise too_many
    with zipfile.ZipFile(stream) as archive:  # raises BadZipFile without an end record
        infos, start_dir = archive.infolist(), archive.start_dir
    if len(infos) > MAX_ENTRIES:
        raise too_many
    found = []
    for info in infos:
        name = _name(info, label)
        found.append(Entry(name, info, _data_start(stream, info, name, label)))
        _check_entry(found[-1], label)
    _check_layout(found, start_dir, label)
    _check_unique(found, label)
    return found


def check_paths(paths: list[str], label):
    """The same rules for the paths of plugin files placed without a zip (`brainscore plugins
    install`): each a plain name inside models/<plugin>/ or benchmarks/<plugin>/, none colliding."""
    found = [Entry(path, zipfile.ZipInfo(path), 0) for path in paths]
    for entry in found:
        _check_entry(entry, label)
    _check_unique(found, label)


def _name(info: zipfile.ZipInfo, label, raw: bytes | None = None, flags=None, extra=None) -> str:
    """The name UnZip 6.00 gives an entry (of the central directory, or of a local header given
    ``raw``, ``flags`` and ``extra``), refused when any other reader would write another."""
    raw = info.orig_filename.encode('utf-8' if info.flag_bits & _UTF8_NAME else 'cp437') if raw is None else raw
    flags, extra = (info.flag_bits, info.extra) if flags is None else (flags, extra)
    shown = _shown(raw.decode('utf-8', 'replace'))
    if not raw.isascii() and not flags & _UTF8_NAME:
        raise RealnetError(f'{label}: {shown}: a non-ASCII name without the UTF-8 flag; readers decode it '
                           'differently (name the file in ASCII, or zip it with UTF-8 names)')
    name = raw.decode('utf-8')
    fields = [data for kind, data in _extra_fields(extra) if kind == _UNICODE_PATH]
    if len(fields) > 1:
        raise RealnetError(f'{label}: {shown}: two unicode-path fields; readers take different ones')
    # version 1, then the CRC-32 of the header name it stands for (a stale field, renamed since, is ignored)
    if fields and fields[0][:5] == struct.pack('<BL', 1, zlib.crc32(raw)):
        unicode_name = fields[0][5:].decode('utf-8')
        if unicode_name and unicode_name != name:  # an empty one means "the header name", to unzip
            raise RealnetError(f'{label}: {shown}: its unicode-path field names {_shown(unicode_name)}; '
                               'unzip writes that name, other readers the header name')
    return name


def _extra_fields(extra: bytes) -> list[tuple[int, bytes]]:
    """An extra field's (id, data) blocks; one overrunning the field is corrupt."""
    fields = []
    while len(extra) >= 4:
        kind, size = struct.unpack('<HH', extra[:4])
        if 4 + size > len(extra):
            raise zipfile.BadZipFile(f'extra field {kind:#06x} overruns its entry')
        fields.append((kind, extra[4:4 + size]))
        extra = extra[4 + size:]
    return fields


def _data_start(stream, info: zipfile.ZipInfo, central: str, label) -> int:
    """Where the entry's compressed bytes begin, once its local header is shown to agree with the
    central directory, whose name is ``central`` (a streaming reader takes the local header's)."""
    if info.header_offset < 0:  # an end record placing the directory after its true place
        raise zipfile.BadZipFile(f'bad local header offset for {info.orig_filename!r}')
    stream.seek(info.header_offset)
    header = stream.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b'PK\x03\x04':
        raise zipfile.BadZipFile(f'no local header for {info.orig_filename!r}')
    _, _, flags, method, _, _, _, _, _, name_size, extra_size = _LOCAL_HEADER.unpack(header)
    raw, extra = stream.read(name_size), stream.read(extra_size)
    if (method, flags & _ENCRYPTED) != (info.compress_type, info.flag_bits & _ENCRYPTED) or (
            _name(info, label, raw, flags, extra) != central):
        raise RealnetError(f'{label}: {_shown(central)}: its local header says another name or method than the '
                           'central directory; readers disagree on what it holds')
    return info.header_offset + _LOCAL_HEADER.size + name_size + extra_size


def _check_entry(entry: Entry, label):
    """A plain file or folder, stored or deflated, at a path that stays in a plugin folder."""
    name, info, shown = entry.name, entry.info, _shown(entry.name)
    mode = (info.external_attr >> 16) & 0o170000
    if mode in _KINDS:
        raise RealnetError(f'{label}: {shown}: {_KINDS[mode]}; the zip must hold plain files')
    if mode == stat.S_IFDIR and not entry.is_dir:
        raise RealnetError(f'{label}: {shown}: a folder entry whose name lacks the final /; readers disagree')
    if info.flag_bits & _ENCRYPTED or info.compress_type not in _METHODS:
        how = 'encrypted' if info.flag_bits & _ENCRYPTED else f'compressed with method {info.compress_type}'
        raise RealnetError(f'{label}: {shown}: {how}; the website takes stored or deflated entries only')
    if not name or not name.isprintable():
        raise RealnetError(f'{label}: {shown}: control characters in a name')
    if name.startswith('/') or (name[:1].isalpha() and name[1:2] == ':'):
        raise RealnetError(f'{label}: {shown}: absolute path; entries must be models/<plugin>/… or '
                           'benchmarks/<plugin>/…')
    if '\\' in name:
        raise RealnetError(f'{label}: {shown}: backslash in a path; zip paths separate folders with /')
    components = parts(name)
    if '..' in components:
        raise RealnetError(f"{label}: {shown}: '..' in a path climbs out of the plugin folder")
    if components[0] not in TOP_FOLDERS or len(components) < (1 if entry.is_dir else 3):
        raise RealnetError(f'{label}: {shown}: outside models/<plugin>/ and benchmarks/<plugin>/; the website '
                           'takes nothing else')


def _shown(name: str) -> str:
    return printable(repr(name))


def parts(name: str) -> list[str]:
    """The path's components as unzip makes them: empty and '.' components dropped."""
    return [part for part in name.split('/') if part not in ('', '.')] or ['']


def _check_layout(found: list[Entry], start_dir: int, label):
    """Each entry's bytes (local header to end of data) apart from every other's and before the
    central directory: entries sharing bytes unpack the same data many times over."""
    spans = sorted((e.info.header_offset, e.data_start + e.info.compress_size, e.name) for e in found)
    for (_, end, name), (start, _, following) in zip(spans, spans[1:]):
        if start < end:
            raise RealnetError(f'{label}: {_shown(name)} and {_shown(following)} overlap in the zip (a zip bomb '
                               'shares compressed data between entries)')
    if spans and spans[-1][1] > start_dir:
        raise RealnetError(f'{label}: {_shown(spans[-1][2])} runs into the central directory')


def _check_unique(found: list[Entry], label):
    """No two entries one file where names are compared case-insensitively and Unicode-normalised
    (macOS, Windows), and no file that is also another entry's folder."""
    keys, folders = {}, set()
    for entry in found:
        key = tuple(unicodedata.normalize('NFC', part).casefold() for part in parts(entry.name))
        if key in keys:
            raise RealnetError(f'{label}: {_shown(entry.name)} and {_shown(keys[key])} are one path once unpacked '
                               '(names differing only in case or Unicode form)')
        keys[key] = entry.name
        folders.update(key[:i] for i in range(1, len(key) if not entry.is_dir else len(key) + 1))
    clash = next((name for key, name in keys.items() if key in folders and not name.endswith('/')), None)
    if clash is not None:
        raise RealnetError(f'{label}: {_shown(clash)} is both a file and a folder once unpacked')


def unpacked(stream, entry: Entry, label):
    """The bytes unzip writes for ``entry``, in chunks of at most _CHUNK, decompressed here: more
    bytes than the entry declares, fewer, or a bad CRC raise zipfile.BadZipFile (see ``readable``)."""
    info, produced, crc = entry.info, 0, 0
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    stream.seek(entry.data_start)
    left, pending = info.compress_size, b''
    while True:
        if not pending and left:
            pending = stream.read(min(_CHUNK, left))
            left -= len(pending)
            if not pending:
                raise zipfile.BadZipFile(f'{entry.name!r} is truncated')
        data, pending = (pending, b'') if inflater is None else (inflater.decompress(pending, _CHUNK),
                                                                  inflater.unconsumed_tail)
        produced += len(data)
        if produced > info.file_size:
            raise RealnetError(f'{label}: {_shown(entry.name)}: unpacks to more than the {info.file_size} bytes it '
                               'declares (a zip bomb hides its size)')
        crc = zlib.crc32(data, crc)
        yield data
        if (inflater.eof if inflater else not left) or (not data and not pending and not left):
            break
    if produced != info.file_size or (inflater and not inflater.eof):
        raise zipfile.BadZipFile(f'{entry.name!r} unpacks to {produced} bytes, not the {info.file_size} it declares')
    if crc != info.CRC:
        raise zipfile.BadZipFile(f'Bad CRC-32 for file {entry.name!r}')


def verify(stream, found: list[Entry], limit: int, label):
    """Every entry decompressed through, counting the bytes produced against ``limit`` in all."""
    total = 0
    for entry in found:
        for data in unpacked(stream, entry, label):
            total += len(data)
            if total > limit:
                raise RealnetError(f'{label}: the zip unpacks to over {limit // 2**20} MB; refused (a zip bomb)')


def head(stream, entry: Entry, size: int, label) -> bytes:
    """The first ``size`` + 1 bytes of an entry at most: one more than ``size`` says there is more."""
    data = b''
    for chunk in unpacked(stream, entry, label):
        data += chunk[:size + 1 - len(data)]
        if len(data) > size:
            break
    return data
