"""Hostile input, issue 26 rule 7: `submission check` reads a zip as unzip writes it, and weights
URLs are https. Zips are built here, with zipfile where it can and by hand (bytes laid out as
APPNOTE says) where it cannot: a size that lies, entries that overlap, a unicode-path field."""
import io
import os
import random
import shutil
import stat
import struct
import subprocess
import sys
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from realnet_brainscore import cli, weights

GOOD_INIT = b"from brainscore_vision import model_registry\nmodel_registry['my_model'] = lambda: None\n"
INIT = 'models/my_model/__init__.py'
LOCAL = struct.Struct('<4s2B4HL2L2H')     # zipfile.structFileHeader
CENTRAL = struct.Struct('<4s4B4HL2L5H2L')  # zipfile.structCentralDir
END = struct.Struct('<4s4H2LH')            # zipfile.structEndArchive
TEN_MIB = 10 * 2**20
PACKAGE_ROOT = str(Path(cli.__file__).parents[2])  # the copy of the package under test, for a subprocess


@dataclass
class Raw:
    """One entry as written by hand: what it unpacks to and what its headers say."""
    name: str | bytes
    data: bytes = b'x = 1\n'
    method: int = zipfile.ZIP_STORED
    size: int | None = None        # declared size (default: the true one)
    crc: int | None = None         # declared CRC (default: the true one)
    flags: int = 0
    extra: bytes = b''             # the central directory's extra field
    local_extra: bytes | None = None
    local_name: bytes | None = None
    mode: int = stat.S_IFREG | 0o644
    packed: bytes | None = None    # the bytes stored (default: data, compressed by method)

    def raw_name(self) -> bytes:
        return self.name if isinstance(self.name, bytes) else self.name.encode()

    def stored(self) -> bytes:
        if self.packed is not None:
            return self.packed
        if self.method == zipfile.ZIP_DEFLATED:
            deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
            return deflate.compress(self.data) + deflate.flush()
        return self.data

    def fields(self):
        crc = zlib.crc32(self.data) if self.crc is None else self.crc
        return crc, len(self.stored()), len(self.data) if self.size is None else self.size

    def local(self) -> bytes:
        name = self.raw_name() if self.local_name is None else self.local_name
        extra = self.extra if self.local_extra is None else self.local_extra
        header = LOCAL.pack(b'PK\x03\x04', 20, 0, self.flags, self.method, 0, 0x21, *self.fields(), len(name), len(extra))
        return header + name + extra + self.stored()

    def central(self, offset: int) -> bytes:
        return CENTRAL.pack(b'PK\x01\x02', 20, 3, 20, 0, self.flags, self.method, 0, 0x21, *self.fields(),
                            len(self.raw_name()), len(self.extra), 0, 0, 0, self.mode << 16, offset
                            ) + self.raw_name() + self.extra


def assemble(records: list[bytes], centrals: list[bytes], misplaced: int = 0) -> bytes:
    """The local records, then the central directory, whose offset the end record gives ``misplaced`` too far."""
    body, directory = b''.join(records), b''.join(centrals)
    return body + directory + END.pack(b'PK\x05\x06', 0, 0, len(centrals), len(centrals), len(directory),
                                       len(body) + misplaced, 0)


def raw_zip(*entries: Raw) -> bytes:
    """The entries one after another, after a good __init__.py."""
    entries = (Raw(INIT, GOOD_INIT), *entries)
    records, offsets, at = [], [], 0
    for entry in entries:
        records.append(entry.local())
        offsets.append(at)
        at += len(records[-1])
    return assemble(records, [e.central(o) for e, o in zip(entries, offsets)])


def unicode_path(target: str, of: str, version: int = 1, crc=None) -> bytes:
    """Info-ZIP's unicode path extra field (0x7075) naming ``target`` for the header name ``of``."""
    data = struct.pack('<BL', version, zlib.crc32(of.encode()) if crc is None else crc) + target.encode()
    return struct.pack('<HH', 0x7075, len(data)) + data


def overlapping() -> bytes:
    """A stored entry whose data hold a second entry's local header and data: both read fine."""
    inner = Raw('models/my_model/b.py')
    outer = Raw('models/my_model/a.py', inner.local())
    init = Raw(INIT, GOOD_INIT)
    records = [init.local(), outer.local()]
    inner_at = len(records[0]) + LOCAL.size + len(outer.raw_name())
    return assemble(records, [init.central(0), outer.central(len(records[0])), inner.central(inner_at)])


def lying_size(crc_of_all: bool) -> bytes:
    """10 MiB of zeros deflated, declared as 100 bytes (CRC of the first 100, or of all)."""
    data = bytes(TEN_MIB)
    return raw_zip(Raw('models/my_model/data.bin', data, zipfile.ZIP_DEFLATED, size=100,
                       crc=None if crc_of_all else zlib.crc32(data[:100])))


def zipped(*names, method=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip made by zipfile: a good __init__.py, then ``names`` (a (name, mode) pair sets the mode)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', method) as archive:
        archive.writestr(INIT, GOOD_INIT)
        for item in names:
            name, mode = item if isinstance(item, tuple) else (item, None)
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            if mode is not None:
                info.external_attr = mode << 16
            archive.writestr(info, 'x = 1\n')
    return buffer.getvalue()


def check(capsys, tmp_path, content: bytes, name='submission.zip'):
    path = tmp_path / name
    path.write_bytes(content)
    status = cli.main(['submission', 'check', str(path)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip().splitlines()


CAFE = 'café'
HOSTILE = {
    # sizes and contents: what is decompressed is counted, CRC and declared size both hold
    'declares 100 B, inflates to 10 MiB': (lambda: lying_size(False), 'unpacks to more than the 100 bytes'),
    'declares 100 B, inflates to 10 MiB, CRC of all': (lambda: lying_size(True), 'unpacks to more than the 100 bytes'),
    'declares more than it holds': (lambda: raw_zip(Raw('models/my_model/a.py', b'x' * 50, zipfile.ZIP_DEFLATED, size=80)),
                                    'not the 80 it declares'),
    'stored, packed size above its size': (lambda: raw_zip(Raw('models/my_model/a.py', b'x' * 50, packed=b'x' * 90,
                                                               crc=zlib.crc32(b'x' * 50))), 'more than the 50 bytes'),
    'overlapping entries': (overlapping, 'overlap in the zip'),
    'bzip2 entry': (lambda: zipped('models/my_model/a.py', method=zipfile.ZIP_BZIP2), 'compressed with method 12'),
    'lzma entry': (lambda: zipped('models/my_model/a.py', method=zipfile.ZIP_LZMA), 'compressed with method 14'),
    'unknown method 99': (lambda: raw_zip(Raw('models/my_model/a.py', method=99)), 'compressed with method 99'),
    'encrypted flag': (lambda: raw_zip(Raw('models/my_model/a.py', flags=1)), 'encrypted;'),
    # names, as Info-ZIP takes them
    'unicode path naming another file': (lambda: raw_zip(Raw('models/my_model/a.py', extra=unicode_path(
        'models/my_model/b.py', 'models/my_model/a.py'))), "unicode-path field names 'models/my_model/b.py'"),
    'unicode path climbing out': (lambda: raw_zip(Raw('models/my_model/a.py', extra=unicode_path(
        '../../evil.py', 'models/my_model/a.py'))), "names '../../evil.py'"),
    'unicode path in the local header only': (lambda: raw_zip(Raw('models/my_model/a.py', local_extra=unicode_path(
        'evil.py', 'models/my_model/a.py'))), "unicode-path field names 'evil.py'"),
    'two unicode path fields': (lambda: raw_zip(Raw('models/my_model/a.py', extra=2 * unicode_path(
        'models/my_model/a.py', 'models/my_model/a.py'))), 'two unicode-path fields'),
    'local name differs from central': (lambda: raw_zip(Raw('models/my_model/a.py', local_name=b'models/my_model/b.py')),
                                        'local header says another name'),
    'UTF-8 flag on a name that is not UTF-8': (lambda: raw_zip(Raw(b'models/my_model/\xff.py', flags=0x800)),
                                               'corrupt or unreadable zip'),
    'directory offset past its place': (lambda: assemble([Raw(INIT, GOOD_INIT).local()], [Raw(INIT, GOOD_INIT).central(0)],
                                                         misplaced=10), 'bad local header offset'),
    'non-ASCII name without UTF-8 flag': (lambda: raw_zip(Raw(b'models/my_model/caf\x82.py')),
                                          'non-ASCII name without the UTF-8 flag'),
    'escape sequence in a name': (lambda: zipped('models/my_model/\x1b[2Jx.py'), 'control characters'),
    'newline in a name': (lambda: zipped('models/my_model/a\nb.py'), 'control characters'),
    'NUL in a name': (lambda: raw_zip(Raw(b'models/my_model/a.py\x00.txt')), 'control characters'),
    # one path once unpacked
    'same name twice': (lambda: raw_zip(Raw('models/my_model/a.py'), Raw('models/my_model/a.py')), 'are one path'),
    'names differing in case': (lambda: zipped('models/my_model/Model.py', 'models/my_model/model.py'), 'are one path'),
    'folders differing in case': (lambda: zipped('models/my_model/a.py', 'models/My_model/a.py'), 'are one path'),
    'NFC and NFD': (lambda: zipped(f'models/my_model/{CAFE}.py',
                                   f'models/my_model/{unicodedata.normalize("NFD", CAFE)}.py'), 'are one path'),
    'a doubled slash': (lambda: zipped('models/my_model/a.py', 'models/my_model//a.py'), 'are one path'),
    'a ./ component': (lambda: zipped('models/my_model/a.py', 'models/my_model/./a.py'), 'are one path'),
    '__init__ again as ./': (lambda: zipped('./models/my_model/__init__.py'), 'are one path'),
    'a file that is also a folder': (lambda: zipped('models/my_model/x', 'models/my_model/x/y.py'),
                                     'both a file and a folder'),
    'a file and a folder entry of one name': (lambda: zipped('models/my_model/x', 'models/my_model/x/'), 'are one path'),
    # entry kinds, from the external attributes
    'FIFO entry': (lambda: zipped(('models/my_model/pipe', stat.S_IFIFO | 0o644)), 'a FIFO'),
    'character device entry': (lambda: zipped(('models/my_model/tty', stat.S_IFCHR | 0o644)), 'a device'),
    'block device entry': (lambda: zipped(('models/my_model/disk', stat.S_IFBLK | 0o644)), 'a device'),
    'socket entry': (lambda: zipped(('models/my_model/sock', stat.S_IFSOCK | 0o644)), 'a socket'),
    'folder mode on a file name': (lambda: zipped(('models/my_model/x', stat.S_IFDIR | 0o755)), 'lacks the final /'),
    # only models/<plugin>/ and benchmarks/<plugin>/
    'README at the top': (lambda: zipped('README.md'), 'outside models/<plugin>/'),
    'setup.py at the top': (lambda: zipped('setup.py'), 'outside models/<plugin>/'),
    'a file in models/ itself': (lambda: zipped('models/evil.py'), 'outside models/<plugin>/'),
    'a file in benchmarks/ itself': (lambda: zipped('benchmarks/evil.py'), 'outside models/<plugin>/'),
    'an empty top-level folder': (lambda: zipped('extra/'), 'outside models/<plugin>/'),
    'another top-level folder': (lambda: zipped('docs/a/b.txt'), 'outside models/<plugin>/'),
    'a hidden top-level folder': (lambda: zipped('.github/workflows/x.yml'), 'outside models/<plugin>/'),
    'Models in capitals': (lambda: zipped('Models/x/a.py'), 'outside models/<plugin>/'),
    'a file in models// (no plugin)': (lambda: zipped('models//evil.py'), 'outside models/<plugin>/'),
}


@pytest.mark.parametrize('case', HOSTILE)
def test_a_hostile_zip_is_one_line_exit_2(case, tmp_path, capsys):
    build, named = HOSTILE[case]
    status, out, err = check(capsys, tmp_path, build())
    assert status == 2 and len(err) == 1 and named in err[0] and out == '', err
    assert '\x1b' not in err[0] and err[0].isprintable()


@pytest.fixture(scope='module')
def many_entries(tmp_path_factory) -> bytes:
    """A good __init__.py and 10,000 empty files: 10,001 entries."""
    path = tmp_path_factory.mktemp('many') / 'many.zip'
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as archive:
        archive.writestr(INIT, GOOD_INIT)
        for i in range(10_000):
            archive.writestr(f'models/my_model/f{i}.txt', b'')
    return path.read_bytes()


@pytest.mark.parametrize('count', [None, 1])
def test_over_max_entries_is_refused_even_when_the_end_record_says_fewer(many_entries, count, tmp_path, capsys):
    content = bytearray(many_entries)
    if count is not None:  # zipfile reads every record the directory's size holds, whatever the count says
        end = content.rindex(b'PK\x05\x06')
        content[end + 8:end + 12] = struct.pack('<HH', count, count)
    status, _, err = check(capsys, tmp_path, bytes(content))
    assert status == 2 and len(err) == 1 and 'over 10000 entries; a submission holds at most 10000' in err[0], err


def test_a_fifo_as_the_zip_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / 'submission.zip'
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, '-m', 'realnet_brainscore.cli', 'submission', 'check', str(fifo)],
                          capture_output=True, text=True, timeout=30, env={**os.environ, 'PYTHONPATH': PACKAGE_ROOT})
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and 'is a FIFO, not a regular zip file' in err[0], err


def test_a_zip_path_with_an_escape_sequence_is_printed_escaped(tmp_path, capsys):
    hyphenated = GOOD_INIT.replace(b"['my_model']", b"['my-model']")  # a rule broken: a problem line
    content = assemble([Raw(INIT, hyphenated).local()], [Raw(INIT, hyphenated).central(0)])
    status, out, err = check(capsys, tmp_path, content, name='sub\x1b[2Jmission.zip')
    assert status == 2 and len(err) == 1 and "'my-model' contains a hyphen" in err[0]
    assert '\x1b' not in err[0] and '\\x1b[2J' in err[0]


VALID = {
    'plain': lambda: zipped('models/my_model/model.py', 'models/my_model/test.py'),
    'folder entries and a benchmark': lambda: zipped('models/', 'models/my_model/', 'benchmarks/my_bench/',
                                                     'benchmarks/my_bench/__init__.py', 'models/my_model/m.py'),
    'a UTF-8 name': lambda: zipped(f'models/my_model/{CAFE}.txt'),
    'a unicode path field with a stale CRC': lambda: raw_zip(Raw('models/my_model/a.py', extra=unicode_path(
        'evil.py', 'models/my_model/a.py', crc=1))),
    'a unicode path field saying the header name': lambda: raw_zip(Raw('models/my_model/a.py', extra=unicode_path(
        'models/my_model/a.py', 'models/my_model/a.py'))),
    'an empty unicode path field': lambda: raw_zip(Raw('models/my_model/a.py', extra=unicode_path(
        '', 'models/my_model/a.py'))),
    'stored by hand': lambda: raw_zip(Raw('models/my_model/a.py'), Raw('models/my_model/b.py', b'y' * 4000,
                                                                          zipfile.ZIP_DEFLATED)),
}


@pytest.mark.parametrize('case', VALID)
def test_a_valid_zip_still_passes(case, tmp_path, capsys):
    status, out, err = check(capsys, tmp_path, VALID[case]())
    assert status == 0 and err == [] and 'passes every website rule' in out, err


def test_garbled_bytes_are_exit_0_or_2_never_unexpected(tmp_path, capsys):
    """Bytes changed at random in good and hostile zips: each is read, refused or called corrupt."""
    rng = random.Random(1)
    bases = [VALID['plain'](), VALID['stored by hand'](), overlapping()]
    for _ in range(300):
        data = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            data[at:at + rng.choice((1, 4))] = rng.randbytes(4)[:1] if rng.random() < 0.5 else rng.randbytes(4)
        status, _, err = check(capsys, tmp_path, bytes(data))
        assert status in (0, 2) and all('unexpected' not in line for line in err), err


UNZIP = shutil.which('unzip')


@pytest.mark.skipif(UNZIP is None, reason='no unzip binary')
@pytest.mark.parametrize('content, writes', [
    (lambda: HOSTILE['unicode path naming another file'][0](), 'models/my_model/b.py'),
    (lambda: VALID['a unicode path field with a stale CRC'](), 'models/my_model/a.py'),
    (lambda: lying_size(False), 'models/my_model/data.bin'),
])
def test_what_unzip_writes_is_what_the_check_reads(content, writes, tmp_path):
    """The premises, on the real binary: UnZip 6.00 writes the unicode path when its CRC matches
    (else the header name), and writes every byte a lying entry inflates to."""
    (tmp_path / 'z.zip').write_bytes(content())
    subprocess.run([UNZIP, '-qq', '-o', 'z.zip', '-d', 'out'], cwd=tmp_path, capture_output=True, timeout=60)
    written = sorted(p.relative_to(tmp_path / 'out').as_posix() for p in (tmp_path / 'out').rglob('*') if p.is_file())
    assert written == sorted([INIT, writes])
    if writes.endswith('data.bin'):
        assert (tmp_path / 'out' / writes).stat().st_size == TEN_MIB


BAD_URLS = {
    'http://example.org/w.pt': 'use an https:// address',
    'ftp://example.org/w.pt': 'use an https:// address',
    'file:///etc/passwd': 'use an https:// address',
    'javascript:alert(1)': 'use an https:// address',
    'https:///w.pt': 'use an https:// address',
    'http://127.0.0.1.evil.example/w.pt': 'use an https:// address',
    'http://localhost.evil.example/w.pt': 'use an https:// address',
    'https://user:secret@example.org/w.pt': 'user name or password',
    'https://token@example.org/w.pt': 'user name or password',
    'https://example.org/my weights.pt': 'whitespace or control characters',
    'https://example.org/w.pt\nX-Header: 1': 'whitespace or control characters',
    'https://example.org/\x1b[2Jw.pt': 'whitespace or control characters',
    'https://example.org:99999/w.pt': 'not a valid URL',
    'https://example.org/' + 'a' * 2048: 'at most 2048 characters',
    'https://example.org/weights/': 'must end in a file name',
    'https://example.org/' + 'a' * 201: 'must end in a file name',
}


@pytest.mark.parametrize('url', BAD_URLS)
def test_a_bad_weights_url_is_refused(url):
    for refuse in (weights.checked_url, lambda url: weights.WeightSource('realnet-s01', url, 'sha256', 'ab' * 32, 'x')):
        with pytest.raises(weights.RealnetError, match=BAD_URLS[url]) as refused:
            refuse(url)
        assert 'secret' not in str(refused.value) and str(refused.value).isprintable()


@pytest.mark.parametrize('url', ['https://example.org/w.pt?versionId=a.b_c', 'http://127.0.0.1:8000/w.pt',
                                 'http://localhost/w.pt', 'http://[::1]:80/w.pt', 'https://example.org/' + 'a/' * 900 + 'w.pt'])
def test_a_good_weights_url_is_taken(url):
    assert weights.checked_url(url) == url


def test_export_refuses_a_bad_weights_url_before_reading_the_weights(tmp_path, capsys):
    out = tmp_path / 'out.zip'
    status = cli.main(['submission', 'export', '--model', 'realnet-s01', '--weights', str(tmp_path / 'absent.pt'),
                       '--weights-url', 'http://example.org/w.pt', '--out', str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and 'use an https:// address' in err[0], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('name, named', [('../../evil.py', "'..' in a path"), ('a\x1b[2J.py', 'control characters'),
                                         ('sub/../../x.py', "'..' in a path")])
def test_plugins_install_keeps_the_zips_path_rules(name, named, tmp_path, realnet_home, monkeypatch, capsys):
    from realnet_brainscore.submission import installation
    root = tmp_path / 'bsv'
    for kind in ('models', 'benchmarks'):
        (root / kind).mkdir(parents=True)
    monkeypatch.setattr(installation, 'benchmark_plugins', lambda: {'my_bench': {'__init__.py': b'', name: b'x'}})
    status = cli.main(['plugins', 'install', '--brainscore-vision', str(root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and named in err[0] and '\x1b' not in err[0], err
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*')) == ['bsv', 'bsv/benchmarks', 'bsv/models']
