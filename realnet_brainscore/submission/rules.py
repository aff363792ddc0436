"""The Brain-Score website's rules for a submission zip (docs/submissions.md#the-websites-rules), checked without
trusting the zip: sizes are judged from what it declares before anything is decompressed."""
import re
import stat
import zipfile
import zlib
from pathlib import Path

from ..errors import RealnetError, first_line
from ..identifiers import leaderboard_id
from . import installation
from .package_index import DEFAULT_INDEX, unserved

MAX_ZIP_BYTES = 50 * 1024 * 1024  # the website's upload limit
# What check() lets reading a zip decompress, judged from the declared sizes before anything is read
# (a 2 MB zip can declare 2 GiB of zeros). Ten times the upload limit: source code and text data
# compress well under 10:1, so a zip the website takes does not legitimately unpack to more.
MAX_UNPACKED_BYTES = 10 * MAX_ZIP_BYTES
# Deflate reaches ~1000:1 only on repeated bytes; code and data files compress 2-20:1. Entries
# under a mebibyte are exempt: a small file of blank lines is no threat however well it packs.
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_ABOVE = 2**20
MAX_INIT_BYTES = 2**20  # registrations are read from at most this much of an __init__.py
MAX_REQUIREMENTS_BYTES = 2**16  # requirements.txt files looked up in the package index (each name: one request)
_REQUIREMENTS = re.compile(r'(models|benchmarks)/[^/]+/requirements\.txt')  # a plugin folder's own
_REGISTRY_LINE = re.compile(r"""(model|benchmark)_registry\[['"]([^'"]+)['"]\]""")


class Problems(list):
    """check()'s answer: the website rules a zip breaks, one sentence each, and in ``notes`` what
    could not be checked (no broken rule)."""

    def __init__(self, problems=(), notes=()):
        super().__init__(problems)
        self.notes = list(notes)


def check(zip_path, brainscore_root=None, index_url=DEFAULT_INDEX, check_index=True) -> Problems:
    """Every website rule the zip breaks, one sentence each (empty: it passes). With ``check_index``,
    each plugin's requirements are looked up in the index ``index_url`` too (the website installs
    them from PyPI); an index that does not answer is a note, not a broken rule."""
    zip_path = Path(zip_path)
    if not zipfile.is_zipfile(zip_path):
        raise RealnetError(f'{zip_path}: not a zip file (or a truncated one)')
    with open(zip_path, 'rb') as stream:
        problems = broken_rules(stream, zip_path.stat().st_size, zip_path, brainscore_root)
        texts, too_long = _requirement_texts(stream) if check_index else ({}, [])
    if not texts:
        return Problems(problems + too_long)
    found = unserved(texts, index_url)
    return Problems(problems + too_long + found.problems, [found.unchecked] if found.unchecked else [])


def _requirement_texts(stream) -> tuple[dict[str, str], list[str]]:
    """{path: text} of each plugin folder's requirements.txt (what the website pip-installs), and a
    line for each one too long to read. Only from a zip whose declared sizes keep to the caps: then
    broken_rules has verified every entry."""
    with zipfile.ZipFile(stream) as archive:
        entries = archive.infolist()
        if _size_problems(entries):
            return {}, []
        files = [e for e in entries if _REQUIREMENTS.fullmatch(e.filename)]
        texts = {e.filename: archive.read(e).decode('utf-8-sig', 'replace') for e in files
                 if e.file_size <= MAX_REQUIREMENTS_BYTES}
    return texts, [f'{e.filename}: over {MAX_REQUIREMENTS_BYTES // 2**10} KiB; a requirements file is a few lines, '
                   'keep it to those' for e in files if e.file_size > MAX_REQUIREMENTS_BYTES]


def broken_rules(stream, size: int, label, brainscore_root=None) -> list[str]:
    """check() of a zip read from ``stream`` (``size`` bytes); a zip that cannot be read whole
    (bad CRC, truncated or garbled data, encrypted, unknown compression) is one line naming it."""
    try:
        with zipfile.ZipFile(stream) as archive:
            return _archive_problems(archive, size, brainscore_root)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as error:
        raise RealnetError(f'{label}: corrupt or unreadable zip ({first_line(error)})') from error


def _archive_problems(archive: zipfile.ZipFile, size: int, brainscore_root=None) -> list[str]:
    problems = []
    if size > MAX_ZIP_BYTES:
        problems.append(f'the zip is {size / 2**20:.1f} MB; the website takes at most 50 MB')
    entries = archive.infolist()
    too_big = _size_problems(entries)
    if too_big:  # nothing is decompressed: these are the entries' declared sizes
        return problems + too_big
    problems += [problem for entry in entries for problem in _path_problems(entry)]
    _verify_crcs(archive, entries)
    files = [e for e in entries if not e.is_dir()]
    names = [e.filename for e in files]
    registrations = []
    for init in (e for e in files if Path(e.filename).name == '__init__.py'):
        text, complete = _head(archive, init)
        if not complete:
            problems.append(f'{init.filename}: over {MAX_INIT_BYTES // 2**20} MiB; an __init__.py that registers '
                            'plugins is a few lines, keep it to those')
        registrations += _REGISTRY_LINE.findall(text)
    problems += [f'file name with a space: {n!r}' for n in names if ' ' in n]
    problems += [f'{n}: metadata files are generated by Brain-Score; leave them out' for n in names
                 if Path(n).name in ('metadata.yaml', 'metadata.yml')]
    folders = {tuple(n.split('/')[:2]) for n in names if n.count('/') >= 2}
    if not folders or any(kind not in ('models', 'benchmarks') for kind, _ in folders):
        problems.append('the zip must hold models/<plugin>/… or benchmarks/<plugin>/… folders')
    problems += [f"model identifier '{i}' contains a hyphen; the leaderboard takes none (e.g. {leaderboard_id(i)})"
                 for kind, i in registrations if kind == 'model' and '-' in i]
    model_ids = sorted({i for kind, i in registrations if kind == 'model'})
    if len(model_ids) > 1:
        problems.append(f'{len(model_ids)} model identifiers ({", ".join(model_ids)}); the website takes one per upload')
    taken = _registered(brainscore_root)
    problems += [f"{kind} identifier '{i}' is already registered in Brain-Score" for kind, i in registrations
                 if i in taken[kind]]
    problems += [f"plugin folder {kind}/{folder} already exists in Brain-Score" for kind, folder in folders
                 if folder in taken['folders'].get(kind, ())]
    return problems


def _size_problems(entries: list[zipfile.ZipInfo]) -> list[str]:
    """The caps on declared sizes, which bound what reading the zip may decompress."""
    limit = f'refused above {MAX_UNPACKED_BYTES // 2**20} MB, 10 x the upload limit (a zip bomb)'
    problems = [f'{e.filename}: unpacks to {e.file_size / 2**20:.0f} MB; {limit}'
                for e in entries if e.file_size > MAX_UNPACKED_BYTES]
    problems += [f'{e.filename}: compressed {e.file_size // max(e.compress_size, 1)}:1, a zip bomb '
                 f'(plugin files compress at most {MAX_COMPRESSION_RATIO}:1)' for e in entries
                 if e.file_size > RATIO_CHECKED_ABOVE and e.file_size > MAX_COMPRESSION_RATIO * e.compress_size]
    total = sum(e.file_size for e in entries)
    if total > MAX_UNPACKED_BYTES:
        problems.append(f'the zip unpacks to {total / 2**20:.0f} MB in all; {limit}')
    return problems


def _path_problems(entry: zipfile.ZipInfo) -> list[str]:
    """Entry names that would land outside the plugin folder when unpacked, or point elsewhere."""
    name, problems = entry.filename, []
    if name.startswith('/') or re.match(r'[A-Za-z]:', name):
        problems.append(f'{name!r}: absolute path; entries must be models/<plugin>/… or benchmarks/<plugin>/…')
    if '\\' in name:
        problems.append(f'{name!r}: backslash in a path; zip paths separate folders with /')
    if '..' in name.split('/'):
        problems.append(f"{name!r}: '..' in a path climbs out of the plugin folder")
    if stat.S_ISLNK(entry.external_attr >> 16):
        problems.append(f'{name!r}: a symbolic link; the zip must hold plain files')
    return problems


def _verify_crcs(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo]):
    """Every entry read through in 1 MiB chunks, so that a bad CRC or garbled data raises; the
    declared sizes, capped before this, bound the work."""
    for entry in entries:
        with archive.open(entry) as stream:
            while stream.read(2**20):
                pass


def _head(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> tuple[str, bool]:
    """The text of the first MAX_INIT_BYTES of an entry, and whether that was all of it."""
    with archive.open(entry) as stream:
        head = stream.read(MAX_INIT_BYTES + 1)
    return head[:MAX_INIT_BYTES].decode('utf-8', 'replace'), len(head) <= MAX_INIT_BYTES


def _registered(root=None) -> dict:
    """The identifiers and plugin folders the brainscore_vision tree ``root`` holds, leaving out the
    folders `brainscore plugins install` placed there: the website's tree has none of ours."""
    root = Path(root) if root else installation.brainscore_vision_dir()
    ours = installation.installed_folders(root)
    taken = {'model': set(), 'benchmark': set(), 'folders': {}}
    for kind in ('models', 'benchmarks'):
        folders = [p for p in (root / kind).iterdir() if p.is_dir() and p.resolve() not in ours]
        taken['folders'][kind] = {folder.name for folder in folders}
        for init in (folder / '__init__.py' for folder in folders if (folder / '__init__.py').is_file()):
            for registry, identifier in _REGISTRY_LINE.findall(init.read_text(encoding='utf-8', errors='replace')):
                taken[registry].add(identifier)
    return taken
