"""`brainscore submission export`: a model or our benchmarks as a website submission, a zip
(checked against the website's rules before it is written) or a folder."""
import io
import zipfile
from pathlib import Path

from .. import models
from ..backbones import CORNET_SPEC
from ..errors import RealnetError
from ..files import atomic_path, file_digest, new_folder, output_file
from ..identifiers import leaderboard_id
from ..weights import WeightSource, source
from .render import website_benchmark_plugins, website_model_plugin
from .rules import broken_rules


def export_model(identifier: str, out, weights=None, weights_url=None, force: bool = False) -> Path:
    """A zip (or folder) ``models/<id>/…`` for one model; a user's file is referenced by URL + hash."""
    if weights is None:
        source(identifier)  # an unknown identifier is refused first
    elif not weights_url:
        raise RealnetError('`weights` needs `weights_url`: the website fetches weights at load time, '
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
    return new_folder(out, '`out` folder or a .zip')


def _write(files: dict[str, bytes], out: Path) -> Path:
    """A zip is built in memory and checked against the website rules first: one that breaks a
    rule is never written, so a failed export leaves nothing behind."""
    if out.suffix == '.zip':
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                archive.writestr(name, content)
        problems = broken_rules(buffer, len(buffer.getbuffer()), out)
        if problems:
            raise RealnetError(f'the export breaks a website rule: {problems[0]}; {out} was not written')
        with atomic_path(out) as partial:
            partial.write_bytes(buffer.getvalue())
        return out
    for name, content in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
    return out
