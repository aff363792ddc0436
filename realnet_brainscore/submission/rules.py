"""The Brain-Score website's rules for a submission zip (docs/submissions.md#the-websites-rules), checked without
trusting the zip: it is read as unzip writes it (unpacking), and sizes are judged from what it declares before
anything is decompressed, then counted as decompressed."""
import re
import zipfile
from pathlib import Path

from ..errors import RealnetError
from ..files import regular_file
from ..identifiers import leaderboard_id
from . import installation, unpacking
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
    them from PyPI); an index that does not answer is a note, not a broken rule. A zip that is
    hostile (see unpacking) or unreadable is one RealnetError line."""
    zip_path = regular_file(zip_path, 'zip file')  # a FIFO would hang is_zipfile's read
    if not zipfile.is_zipfile(zip_path):
        raise RealnetError(f'{zip_path}: not a zip file (or a truncated one)')
    with open(zip_path, 'rb') as stream, unpacking.readable(zip_path):
        found = unpacking.entries(stream, zip_path)
        problems = _archive_problems(stream, found, zip_path.stat().st_size, zip_path, brainscore_root)
        texts, too_long = _requirement_texts(stream, found, zip_path) if check_index else ({}, [])
    if not texts:
        return Problems(problems + too_long)
    found = unserved(texts, index_url)
    return Problems(problems + too_long + found.problems, [found.unchecked] if found.unchecked else [])


def _requirement_texts(stream, found: list[unpacking.Entry], label) -> tuple[dict[str, str], list[str]]:
    """{path: text} of each plugin folder's requirements.txt (what the website pip-installs), and a
    line for each one too long to read. Only from a zip whose declared sizes keep to the caps: then
    _archive_problems has verified every entry."""
    if _size_problems(found):
        return {}, []
    files = [e for e in found if _REQUIREMENTS.fullmatch(e.name)]
    texts = {e.name: unpacking.head(stream, e, MAX_REQUIREMENTS_BYTES, label).decode('utf-8-sig', 'replace')
             for e in files if e.info.file_size <= MAX_REQUIREMENTS_BYTES}
    return texts, [f'{e.name}: over {MAX_REQUIREMENTS_BYTES // 2**10} KiB; a requirements file is a few lines, '
                   'keep it to those' for e in files if e.info.file_size > MAX_REQUIREMENTS_BYTES]


def broken_rules(stream, size: int, label, brainscore_root=None) -> list[str]:
    """check() of a zip read from ``stream`` (``size`` bytes), without the index; a zip that is
    hostile or cannot be read whole (bad CRC, truncated or garbled data, encrypted, unknown
    compression) is one line naming it."""
    with unpacking.readable(label):
        return _archive_problems(stream, unpacking.entries(stream, label), size, label, brainscore_root)


def _archive_problems(stream, found: list[unpacking.Entry], size: int, label, brainscore_root=None) -> list[str]:
    problems = []
    if size > MAX_ZIP_BYTES:
        problems.append(f'the zip is {size / 2**20:.1f} MB; the website takes at most 50 MB')
    too_big = _size_problems(found)
    if too_big:  # nothing is decompressed: these are the entries' declared sizes
        return problems + too_big
    unpacking.verify(stream, found, MAX_UNPACKED_BYTES, label)  # the sizes produced, not those declared
    files = [e for e in found if not e.is_dir]
    names = [e.name for e in files]
    registrations = []
    for init in (e for e in files if Path(e.name).name == '__init__.py'):
        head = unpacking.head(stream, init, MAX_INIT_BYTES, label)
        if len(head) > MAX_INIT_BYTES:
            problems.append(f'{init.name}: over {MAX_INIT_BYTES // 2**20} MiB; an __init__.py that registers '
                            'plugins is a few lines, keep it to those')
        registrations += _REGISTRY_LINE.findall(head[:MAX_INIT_BYTES].decode('utf-8', 'replace'))
    problems += [f'file name with a space: {n!r}' for n in names if ' ' in n]
    problems += [f'{n}: metadata files are generated by Brain-Score; leave them out' for n in names
                 if Path(n).name in ('metadata.yaml', 'metadata.yml')]
    folders = {tuple(unpacking.parts(e.name)[:2]) for e in files}  # unpacking keeps files to models|benchmarks/<plugin>/
    if not folders:
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


def _size_problems(found: list[unpacking.Entry]) -> list[str]:
    """The caps on declared sizes, which bound what reading the zip may decompress (unpacking
    refuses an entry that unpacks to more than it declares)."""
    limit = f'refused above {MAX_UNPACKED_BYTES // 2**20} MB, 10 x the upload limit (a zip bomb)'
    sizes = [(e.name, e.info.file_size, e.info.compress_size) for e in found]
    problems = [f'{name}: unpacks to {size / 2**20:.0f} MB; {limit}' for name, size, _ in sizes
                if size > MAX_UNPACKED_BYTES]
    problems += [f'{name}: compressed {size // max(packed, 1)}:1, a zip bomb '
                 f'(plugin files compress at most {MAX_COMPRESSION_RATIO}:1)' for name, size, packed in sizes
                 if size > RATIO_CHECKED_ABOVE and size > MAX_COMPRESSION_RATIO * packed]
    total = sum(size for _, size, _ in sizes)
    if total > MAX_UNPACKED_BYTES:
        problems.append(f'the zip unpacks to {total / 2**20:.0f} MB in all; {limit}')
    return problems


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
