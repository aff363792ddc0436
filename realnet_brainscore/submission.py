"""Brain-Score plugin folders for our models: installed into brainscore_vision, or zipped for the
leaderboard website, and a check of a zip against the website's rules (shared FORMATS.md)."""
import ast
import contextlib
import hashlib
import io
import json
import re
import shutil
import stat
import sys
import zipfile
import zlib
from pathlib import Path

from . import __version__, models, plugin
from .backbones import CORNET_SPEC, BackboneSpec
from .data import ENVIRONMENT, HOSTED
from .errors import RealnetError, first_line
from .files import atomic_path, file_digest, new_folder, output_file, writable_folder
from .identifiers import is_timm, leaderboard_id, parse
from .package_index import DEFAULT_INDEX, unserved
from .vendoring import self_contained
from .weights import WeightSource, realnet_home, source

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
INSTALLED_FOLDER = 'realnet_brainscore'  # brainscore_vision/models/<this>
# The model plugin's files as shipped, valid Python that Brain-Score would run once filled in. The
# hyphen keeps the folder out of reach of import statements: its __init__.py registers models.
TEMPLATES = Path(__file__).parent / 'templates' / 'model-plugin'
_PLACEHOLDER = "'IDENTIFIER'"  # the template's registration line names this for each identifier
# The data set each benchmark plugin reads: the website runs only those whose data Brain-Score hosts (data.HOSTED).
PLUGIN_DATA = {'gifford2022_temporal_rsa': 'things_eeg2', 'shen2019_rsa': 'shen2019'}
DATASET_NAMES = {'things_eeg2': 'THINGS-EEG2', 'shen2019': 'Shen 2019 fMRI'}
_REQUIREMENTS = re.compile(r'(models|benchmarks)/[^/]+/requirements\.txt')  # a plugin folder's own
_REGISTRY_LINE = re.compile(r"""(model|benchmark)_registry\[['"]([^'"]+)['"]\]""")


def model_plugin(identifiers: list[str], weights: WeightSource | None = None,
                 spec: BackboneSpec = CORNET_SPEC) -> dict[str, str]:
    """Files of a model plugin folder registering ``identifiers`` (package ids) of the backbone
    ``spec``, made from the templates. With ``weights`` (a WeightSource of the user's hosted file),
    the one model loads that file instead."""
    package_ids = {leaderboard_id(i): i for i in identifiers}
    layers = spec.brainscore_layers
    return {
        '__init__.py': _registering(list(package_ids)),
        'model.py': _filled('model.py', PACKAGE_IDS=package_ids, WEIGHTS=weights, LAYERS=layers),
        'test.py': _filled('test.py', IDENTIFIERS=list(package_ids), LAYERS=layers, REGIONS=dict(spec.regions)),
        'requirements.txt': f'realnet-brainscore{"[timm]" if is_timm(spec.name) else ""}=={__version__}\n',
    }


def website_model_plugin(identifiers: list[str], weights: WeightSource | None = None,
                         spec: BackboneSpec = CORNET_SPEC) -> dict[str, bytes]:
    """``model_plugin`` made self-contained for the website (the package modules copied in)."""
    files = {name: text.encode() for name, text in model_plugin(identifiers, weights, spec).items()}
    return self_contained(files, extras=('timm',) if is_timm(spec.name) else ())


def _registering(identifiers: list[str]) -> str:
    """The template __init__.py with its registration line written once per identifier."""
    text = (TEMPLATES / '__init__.py').read_text(encoding='utf-8')
    line = next(line for line in text.splitlines(keepends=True) if _PLACEHOLDER in line)
    return text.replace(line, ''.join(line.replace(_PLACEHOLDER, repr(i)) for i in identifiers))


def _filled(template: str, **values) -> str:
    """The text of ``template`` with the right-hand side of each top-level ``NAME = …`` named in
    ``values`` replaced by the value's repr(), Python that the template's own imports evaluate."""
    text = (TEMPLATES / template).read_text(encoding='utf-8')
    lines = text.encode().splitlines(keepends=True)  # ast's column offsets count UTF-8 bytes
    assignments = {_assigned_name(node): node.value for node in ast.parse(text).body
                   if isinstance(node, (ast.Assign, ast.AnnAssign)) and _assigned_name(node) in values}
    if set(assignments) != set(values):
        raise ValueError(f'template {template} does not assign {sorted(set(values) - set(assignments))}')
    for name, value in sorted(assignments.items(), key=lambda item: -item[1].lineno):  # bottom up: offsets hold
        first, last = lines[value.lineno - 1], lines[value.end_lineno - 1]
        lines[value.lineno - 1:value.end_lineno] = [first[:value.col_offset] + repr(values[name]).encode()
                                                    + last[value.end_col_offset:]]
    return b''.join(lines).decode()


def _assigned_name(node: ast.Assign | ast.AnnAssign) -> str | None:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return targets[0].id if len(targets) == 1 and isinstance(targets[0], ast.Name) else None


def benchmark_plugins() -> dict[str, dict[str, bytes]]:
    """Our benchmark plugin folders as they are: {folder: {file name: bytes}}."""
    return {folder.name: {p.name: p.read_bytes() for p in sorted(folder.glob('*.py')) + sorted(folder.glob('*.txt'))}
            for folder in sorted(plugin.plugins_dir().iterdir()) if (folder / '__init__.py').is_file()}


def website_benchmark_plugins(names: list[str] | None = None) -> dict[str, dict[str, bytes]]:
    """The benchmark plugin folders ``names`` (default: all the website can run) made self-contained;
    one the website cannot run is refused in one line saying why."""
    plugins = benchmark_plugins()
    unknown = sorted(set(names or ()) - set(plugins))
    if unknown:
        raise RealnetError(f'no benchmark plugin {unknown[0]}; ours: {", ".join(plugins)}')
    refused = [name for name in names or () if website_refusal(name)]
    if refused:
        raise RealnetError(f'benchmarks/{refused[0]} is not exported: {website_refusal(refused[0])}')
    chosen = names or [name for name in plugins if website_refusal(name) is None]
    return {name: self_contained(plugins[name]) for name in chosen}


def website_refusal(plugin_folder: str) -> str | None:
    """Why the website cannot run this benchmark plugin (its data are not hosted), or None."""
    dataset = PLUGIN_DATA[plugin_folder]
    if HOSTED[dataset] is not None:
        return None
    return (f'it reads ${ENVIRONMENT[dataset]}, and the website has no '
            f'{DATASET_NAMES[dataset]} (Brain-Score does not host it: its ImageNet test images are not '
            'redistributable); score it locally with `brainscore score`')


def export_model(identifier: str, out, weights=None, weights_url=None, force: bool = False) -> Path:
    """A zip (or folder) ``models/<id>/…`` for one model; a user's file is referenced by URL + hash."""
    if weights is None:
        source(identifier)  # an unknown identifier is refused first
    elif not weights_url:
        raise RealnetError('--weights needs --weights-url: the website fetches weights at load time, '
                           'they never go inside the zip')
    out = _destination(out, force, inputs=[weights] if weights is not None else [])
    hosted, backbone = None, CORNET_SPEC
    if weights is not None:
        backbone = models.load_network(identifier, weights).spec  # refuses a file that does not load as it
        hosted = WeightSource(identifier, weights_url, 'sha256', file_digest(weights, 'sha256'),
                              f'{identifier} from {Path(weights).name}')
    files = {f'models/{leaderboard_id(identifier)}/{name}': content
             for name, content in website_model_plugin([identifier], hosted, backbone).items()}
    return _write(files, out)


def export_benchmarks(out, force: bool = False, names: list[str] | None = None) -> Path:
    """A zip (or folder) ``benchmarks/<plugin>/…`` of ``names`` (default: those the website can run)."""
    plugins = website_benchmark_plugins(names)  # a plugin the website cannot run is refused first
    out = _destination(out, force)
    files = {f'benchmarks/{folder}/{name}': content for folder, entries in plugins.items()
             for name, content in entries.items()}
    return _write(files, out)


def _destination(out, force: bool, inputs=()) -> Path:
    """``out`` once it is shown to take the export, before any work: a .zip that is not an existing
    file (unless ``force``) nor an input, or a new or empty folder; either where files can be made."""
    out = Path(out)
    if out.suffix == '.zip':
        return output_file(out, inputs, force)
    return new_folder(out, '--out folder or a .zip')


def _write(files: dict[str, bytes], out: Path) -> Path:
    """A zip is built in memory and checked against the website rules first: one that breaks a
    rule is never written, so a failed export leaves nothing behind."""
    if out.suffix == '.zip':
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                archive.writestr(name, content)
        problems = _checked(buffer, len(buffer.getbuffer()), out)
        if problems:
            raise RealnetError(f'the export breaks a website rule: {problems[0]}; {out} was not written')
        with atomic_path(out) as partial:
            partial.write_bytes(buffer.getvalue())
        return out
    for name, content in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
    return out


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
        problems = _checked(stream, zip_path.stat().st_size, zip_path, brainscore_root)
        texts, too_long = _requirement_texts(stream) if check_index else ({}, [])
    if not texts:
        return Problems(problems + too_long)
    found = unserved(texts, index_url)
    return Problems(problems + too_long + found.problems, [found.unchecked] if found.unchecked else [])


def _requirement_texts(stream) -> tuple[dict[str, str], list[str]]:
    """{path: text} of each plugin folder's requirements.txt (what the website pip-installs), and a
    line for each one too long to read. Only from a zip whose declared sizes keep to the caps: then
    _checked has verified every entry."""
    with zipfile.ZipFile(stream) as archive:
        entries = archive.infolist()
        if _size_problems(entries):
            return {}, []
        files = [e for e in entries if _REQUIREMENTS.fullmatch(e.filename)]
        texts = {e.filename: archive.read(e).decode('utf-8-sig', 'replace') for e in files
                 if e.file_size <= MAX_REQUIREMENTS_BYTES}
    return texts, [f'{e.filename}: over {MAX_REQUIREMENTS_BYTES // 2**10} KiB; a requirements file is a few lines, '
                   'keep it to those' for e in files if e.file_size > MAX_REQUIREMENTS_BYTES]


def _checked(stream, size: int, label, brainscore_root=None) -> list[str]:
    """check() of a zip read from ``stream`` (``size`` bytes); a zip that cannot be read whole
    (bad CRC, truncated or garbled data, encrypted, unknown compression) is one line naming it."""
    try:
        with zipfile.ZipFile(stream) as archive:
            return _broken_rules(archive, size, brainscore_root)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as error:
        raise RealnetError(f'{label}: corrupt or unreadable zip ({first_line(error)})') from error


def _broken_rules(archive: zipfile.ZipFile, size: int, brainscore_root=None) -> list[str]:
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
    root = Path(root) if root else brainscore_vision_dir()
    ours = _installed_folders(root)
    taken = {'model': set(), 'benchmark': set(), 'folders': {}}
    for kind in ('models', 'benchmarks'):
        folders = [p for p in (root / kind).iterdir() if p.is_dir() and p.resolve() not in ours]
        taken['folders'][kind] = {folder.name for folder in folders}
        for init in (folder / '__init__.py' for folder in folders if (folder / '__init__.py').is_file()):
            for registry, identifier in _REGISTRY_LINE.findall(init.read_text(encoding='utf-8', errors='replace')):
                taken[registry].add(identifier)
    return taken


def _installed_folders(root: Path) -> set[Path]:
    """The plugin folders the install record says were placed in ``root`` (none if it is unreadable:
    then ours count as taken, which is the safe side)."""
    try:
        installs = _read_manifest()
    except RealnetError:
        return set()
    return {Path(folder) for entry in installs if entry['brainscore_vision'] == str(root.resolve())
            for folder in entry['folders']}


def brainscore_vision_dir() -> Path:
    import brainscore_vision
    return Path(brainscore_vision.__file__).parent


def _manifest() -> Path:
    return realnet_home() / 'installed-plugins.json'


def install(root=None, identifiers=None) -> list[Path]:
    """Place our model plugin and benchmark plugins into the brainscore_vision tree (default: the
    installed one), where Brain-Score's folder scan finds them. The manifest gets one entry per
    tree: its resolved path, the folders placed, and each file placed with its sha256."""
    root = Path(root or brainscore_vision_dir()).resolve()
    installs = [entry for entry in _read_manifest() if entry['brainscore_vision'] != str(root)]
    writable_folder(_manifest().parent)
    identifiers = identifiers or [i for i in models.list_models() if parse(i).personal]
    folders = {root / 'models' / INSTALLED_FOLDER: {n: t.encode() for n, t in model_plugin(identifiers).items()}}
    folders.update({root / 'benchmarks' / name: files for name, files in benchmark_plugins().items()})
    present = [str(f) for f in folders if f.exists()]
    if present:
        raise RealnetError(f'{present[0]} already exists; run `brainscore plugins uninstall` first')
    placed, digests = [], {}
    try:
        for folder, files in folders.items():
            folder.mkdir()
            placed.append(folder)
            for name, content in files.items():
                (folder / name).write_bytes(content)
                digests[str(folder / name)] = hashlib.sha256(content).hexdigest()
        _write_manifest(installs + [{'brainscore_vision': str(root), 'folders': [str(f) for f in placed],
                                     'files': digests}])
    except OSError as error:
        for folder in placed:  # made by this call (mkdir refuses an existing one): ours to remove
            shutil.rmtree(folder, ignore_errors=True)
        raise RealnetError(f'could not install into {root} ({first_line(error)})') from error
    return placed


def uninstall(root=None) -> list[str]:
    """Remove the files install() placed in ``root`` (default: in every tree the manifest records)
    whose content is unchanged, and their folders once empty; anything else stays. One line per
    folder removed and per file kept."""
    installs = _read_manifest()
    if not installs:
        raise RealnetError(f'nothing to uninstall: no record of an installation ({_manifest()})')
    chosen = list(installs)  # installs shrinks as each is removed
    if root is not None:
        chosen = [entry for entry in installs if entry['brainscore_vision'] == str(Path(root).resolve())]
        if not chosen:
            raise RealnetError(f'no installation recorded in {Path(root).resolve()}; recorded: '
                               + ', '.join(entry['brainscore_vision'] for entry in installs))
    lines = []
    for entry in chosen:
        lines += _remove_installed(entry)
        installs.remove(entry)
        _write_manifest(installs)  # after each tree, so a failure later leaves a true record
    return lines


def _remove_installed(entry: dict) -> list[str]:
    lines, kept = [], set()
    for file, digest in entry['files'].items():
        path = Path(file)
        if not path.is_file():
            continue
        if file_digest(path, 'sha256') != digest:
            kept.add(path)
            lines.append(f'kept {path}: changed since `brainscore plugins install`')
            continue
        path.unlink()
        # what this Python compiled from our file (model.cpython-311.pyc), not a user's model.backup.*.pyc
        for bytecode in (path.parent / '__pycache__').glob(f'{path.stem}.{sys.implementation.cache_tag}*.pyc'):
            bytecode.unlink()
    for folder in map(Path, entry['folders']):
        with contextlib.suppress(OSError):
            (folder / '__pycache__').rmdir()  # only when empty
        if not folder.is_dir():
            continue
        lines += [f'kept {path}: not placed by `brainscore plugins install`'
                  for path in sorted(set(folder.iterdir()) - kept)]
        if any(folder.iterdir()):
            continue
        folder.rmdir()
        lines.append(f'removed {folder}')
    return lines


def _read_manifest() -> list[dict]:
    """The manifest's entries ([] when there is none); anything but what install() writes is one
    line naming the file, since removing files on the word of a garbled record is not safe."""
    path = _manifest()
    if not path.is_file():
        return []
    try:
        record = json.loads(path.read_text(encoding='utf-8'))
        return _valid_installs(record)
    except ValueError as error:
        raise RealnetError(f'{path}: not an install record this version reads ({first_line(error)}); remove the '
                           'plugin folders by hand and delete it') from error


def _valid_installs(record) -> list[dict]:
    """``record['installs']`` once each entry is shown to name only files in plugin folders of its
    own brainscore_vision tree (ValueError otherwise)."""
    if isinstance(record, dict) and 'folders' in record and 'installs' not in record:
        raise ValueError('written by an older version, without file hashes')
    installs = record.get('installs') if isinstance(record, dict) else None
    if not isinstance(installs, list):
        raise ValueError("no 'installs' list")
    for entry in installs:
        if not (isinstance(entry, dict) and isinstance(entry.get('brainscore_vision'), str)
                and isinstance(entry.get('folders'), list) and isinstance(entry.get('files'), dict)):
            raise ValueError("an entry lacks 'brainscore_vision', 'folders' or 'files'")
        root, folders = Path(entry['brainscore_vision']), entry['folders']
        if not root.is_absolute():
            raise ValueError(f'{root} is not an absolute path')
        if not all(isinstance(f, str) and '..' not in Path(f).parts
                   and Path(f).parent in (root / 'models', root / 'benchmarks') for f in folders):
            raise ValueError(f'folders outside {root}/models and benchmarks')
        if not all(isinstance(digest, str) and Path(file).parent in map(Path, folders)
                   for file, digest in entry['files'].items()):
            raise ValueError('files outside the recorded folders')
    return installs


def _write_manifest(installs: list[dict]):
    if not installs:
        _manifest().unlink(missing_ok=True)
        return
    with atomic_path(_manifest()) as partial:
        partial.write_text(json.dumps({'installs': installs}, indent=2), encoding='utf-8')
