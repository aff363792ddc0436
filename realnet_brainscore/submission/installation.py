"""`brainscore plugins install|uninstall`: our plugin folders placed into a brainscore_vision tree,
where Brain-Score's folder scan finds them, and removed again exactly as placed (a manifest in
$REALNET_HOME records each file with its sha256)."""
import contextlib
import hashlib
import json
import shutil
import sys
from pathlib import Path

from .. import models
from ..errors import RealnetError, first_line
from ..files import atomic_path, file_digest, writable_folder
from ..identifiers import parse
from ..weights import realnet_home
from .render import benchmark_plugins, model_plugin
from .unpacking import check_paths

INSTALLED_FOLDER = 'realnet_brainscore'  # brainscore_vision/models/<this>


def installed_folders(root: Path) -> set[Path]:
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
    # what a submission zip may hold, the same rules: no file placed outside its plugin folder
    check_paths([f'{folder.parent.name}/{folder.name}/{name}' for folder, files in folders.items() for name in files],
                'plugins install')
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
    except (ValueError, RecursionError) as error:  # RecursionError: JSON nested too deep for the parser
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
