"""The networks an encoding head can be fitted to: CORnet-S, torchvision and timm classifiers.

One naming scheme: ``cornet-s``; any classification model ``torchvision.models.get_model`` knows
(``resnet50``, ``vit_b_16``); ``timm:NAME`` for timm's (an optional extra). A ``BackboneSpec`` says
which submodules (by module name) the head reads, which layer each Brain-Score region is read
from and the behavioural readout; aligned checkpoints record it, so a file rebuilds its model.
"""
import contextlib
import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import bounds
from .cornet import AREAS, CORnetS
from .errors import RealnetError, first_line, printable
from .identifiers import CORNET, is_timm, timm_model
from .weights import downloads_allowed

REGIONS = AREAS  # the regions Brain-Score commits layers to: V1 V2 V4 IT
RESNET_LAYERS = ('layer1', 'layer2', 'layer3', 'layer4')  # torchvision's and timm's ResNet family
_PASS_THROUGH = (nn.Dropout, nn.Identity, nn.Flatten)  # modules that do not make a readout of their own
TIMM_SOURCES = ('hf-hub', 'hf_hub', 'local-dir')  # timm's name prefixes that read a configuration from elsewhere


@dataclass(frozen=True)
class BackboneSpec:
    name: str                                  # cornet-s, a torchvision name, or timm:NAME
    layers: tuple[str, ...]                    # module names the encoding head reads, in this order
    regions: dict[str, str] = field(hash=False)  # V1 V2 V4 IT -> the layer Brain-Score reads for it
    readout: str = ''                          # the behavioural readout: the module before the classifier
    pool: int | None = None                    # the head averages each output to pool×pool first

    def to_meta(self) -> dict:
        return {'name': self.name, 'layers': list(self.layers), 'regions': dict(self.regions),
                'readout': self.readout, 'pool': self.pool}

    @classmethod
    def from_meta(cls, meta) -> 'BackboneSpec':
        """A checkpoint's record; files without one (the published releases) hold CORnet-S."""
        if meta is None:
            return CORNET_SPEC
        try:
            return cls(str(meta['name']), tuple(map(str, meta['layers'])), {str(k): str(v) for k, v in
                       meta['regions'].items()}, str(meta['readout']), _pool(meta.get('pool')))
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise ValueError(f'its backbone record is not usable ({meta!r:.80})') from error

    @property
    def brainscore_layers(self) -> list[str]:
        """The layers Brain-Score extracts: each region's, then the readout."""
        return list(dict.fromkeys([*self.regions.values(), self.readout]))


CORNET_SPEC = BackboneSpec(CORNET, AREAS, {area: area for area in AREAS}, 'decoder.avgpool')


def _pool(value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f'pool {value!r} is not a positive whole number')
    if value is not None and value > bounds.POOL:  # a head of pool² × channels inputs per layer would be built
        raise ValueError(f'pool {value} is above the bound of {bounds.POOL}')
    return value


def create(name: str, from_file: bool = False, drawn: bool = True) -> nn.Module:
    """``name``'s architecture with random weights (no download). ``drawn=False``, for a load that
    sets every weight: CORnet-S's are allocated, not drawn (drawing its 53 M took half a second on two
    cores per model loaded); training draws them, so that its seed's random stream reaches the
    encoding head as before. A name read from a file (``from_file``: a checkpoint's metadata), or any
    name while downloads are not allowed, is built offline (``offline``): its author, not the user,
    chose it, so it never makes this package contact a model hub; a timm name that points at a hub or
    a folder (``hf-hub:``, ``local-dir:``) is refused from a file, since building it means reading a
    configuration from there."""
    if name == CORNET:
        if drawn:
            return CORnetS()
        with torch.device('meta'):  # CORnet-S has no buffer a state dict leaves out
            return CORnetS().to_empty(device='cpu')
    if is_timm(name):
        return _create_timm(name, from_file)
    import torchvision
    known = torchvision.models.list_models(module=torchvision.models)  # the classifiers, not detection etc.
    if name not in known:
        close = difflib.get_close_matches(name, [CORNET, *known], n=3)
        raise RealnetError(f'unknown backbone {printable(repr(name))[:140]}: cornet-s, a torchvision classifier'
                           f'{" (did you mean " + ", ".join(close) + "?)" if close else ""} or timm:NAME')
    return torchvision.models.get_model(name, weights=None)


def _create_timm(name: str, from_file: bool) -> nn.Module:
    model, shown = timm_model(name), printable(name)[:140]
    what = f'{shown} (the backbone a checkpoint names)' if from_file else f'`backbone` {shown}'
    if from_file and model.partition(':')[0].lower() in TIMM_SOURCES:
        raise RealnetError(f'{what}: a model a file names is built from this package and timm alone, never '
                           'from a model hub or a folder the file chooses; refused')
    try:
        import timm
    except ImportError as error:
        raise RealnetError(f"{what} needs timm: pip install 'realnet-brainscore[timm]'") from error
    try:
        with offline() if from_file or not downloads_allowed() else contextlib.nullcontext():
            return timm.create_model(model, pretrained=False)
    except Exception as error:  # timm's "Unknown model", a bad name, a hub refused offline: the user's to fix
        raise RealnetError(f'{what}: {printable(first_line(error))[:200]} (timm.list_models() names them)') from error


@contextlib.contextmanager
def offline():
    """No model hub is contacted in this block: huggingface_hub's offline switch (set in the
    environment and on its module, which reads the variable once, at import) and torch.hub's
    downloads refused (timm fetches weights through it)."""
    import torch.hub
    import huggingface_hub.constants as hub
    from timm.models import _hub as timm_hub  # imports torch.hub's function by name: patched there too
    saved = os.environ.get('HF_HUB_OFFLINE'), hub.HF_HUB_OFFLINE, torch.hub.download_url_to_file
    os.environ['HF_HUB_OFFLINE'], hub.HF_HUB_OFFLINE = '1', True
    torch.hub.download_url_to_file = timm_hub.download_url_to_file = _no_download
    try:
        yield
    finally:
        torch.hub.download_url_to_file = timm_hub.download_url_to_file = saved[2]
        hub.HF_HUB_OFFLINE = saved[1]
        if saved[0] is None:
            os.environ.pop('HF_HUB_OFFLINE', None)
        else:
            os.environ['HF_HUB_OFFLINE'] = saved[0]


def _no_download(url, *args, **kwargs):
    raise RealnetError(f'downloads are not allowed here (REALNET_OFFLINE, or a name read from a file): {url}')


def is_backbone(name: str) -> bool:
    """Whether ``name`` names an architecture ``create`` builds (timm names are not checked here)."""
    import torchvision
    return name == CORNET or is_timm(name) or name in torchvision.models.list_models(module=torchvision.models)


def pretrained_state(name: str, progress: bool = True) -> dict[str, torch.Tensor]:
    """The library's ImageNet weights of ``name``: from its cache, else downloaded; offline, one line."""
    if is_timm(name):
        try:
            import timm
            with contextlib.nullcontext() if downloads_allowed() else offline():  # offline: its local cache only
                return timm.create_model(timm_model(name), pretrained=True).state_dict()
        except Exception as error:  # timm and huggingface_hub raise many kinds offline
            raise RealnetError(f'{name}: timm could not load its pretrained weights ({first_line(error)}); '
                               f'or give `backbone_weights` FILE') from error
    from .checkpoint import read_checkpoint
    return read_checkpoint(pretrained_file(name, progress)).state_dict


def torchvision_weights(name: str):
    """The WeightSource of torchvision's ImageNet weights of ``name`` (its DEFAULT)."""
    from torchvision.models import get_model_weights
    from .weights import WeightSource
    url = get_model_weights(name).DEFAULT.url
    digest = url.rsplit('-', 1)[-1].split('.')[0]  # torchvision's files are <name>-<sha256[:8]>.pth
    return WeightSource(name, url, 'sha256', digest, f'{name} ImageNet weights (torchvision)')


def pretrained_file(name: str, progress: bool = True) -> Path:
    """torchvision's ImageNet weights file of ``name`` in torch hub's cache, downloaded if absent."""
    from .weights import fetch
    spec = torchvision_weights(name)
    try:
        return fetch(spec, Path(torch.hub.get_dir()) / 'checkpoints' / spec.filename, progress)
    except RealnetError as error:
        raise RealnetError(f'{error}; or give `backbone_weights` FILE') from error


def describe(name: str, module: nn.Module, image_size: int, layers=None, regions=None,
             pool: int | None = None) -> BackboneSpec:
    """The spec of ``module`` (``name``'s architecture): ``layers`` (default: CORnet-S's areas,
    the ResNet family's layer1-4), ``regions`` (default: V1 from the first layer, IT from the last,
    V2 and V4 spread between), the readout found by one probing forward pass."""
    modules = dict(module.named_modules())
    layers = tuple(layers or _default_layers(name, modules))
    for layer in (*layers, *(regions or {}).values()):
        _check_layer(layer, modules)
    if len(set(layers)) < len(layers):
        raise RealnetError(f'`layers` names a layer twice: {" ".join(layers)}')
    regions = dict(regions or _spread(layers))
    if set(regions) != set(REGIONS):
        raise RealnetError(f'`regions` must map each of {" ".join(REGIONS)} to a layer (got {" ".join(regions)})')
    spec = BackboneSpec(name, layers, {region: regions[region] for region in REGIONS}, _readout(module, image_size),
                        _pool(pool))
    probe_outputs(module, spec.brainscore_layers + list(layers), image_size)  # every layer gives a tensor
    return spec


def _default_layers(name: str, modules: dict) -> tuple[str, ...]:
    if name == CORNET:
        return AREAS
    if all(layer in modules for layer in RESNET_LAYERS):
        return RESNET_LAYERS
    children = [n for n in modules if n and '.' not in n]
    raise RealnetError(f'`backbone` {name}: no default layers for this family; name them with `layers` '
                       f'(module names, e.g. below {", ".join(children[:8])})')


def _check_layer(layer: str, modules: dict):
    if layer not in modules or not layer:
        close = difflib.get_close_matches(layer, [n for n in modules if n], n=3)
        raise RealnetError(f'the backbone has no module {layer!r}'
                           f'{" (did you mean " + ", ".join(close) + "?)" if close else ""}')


def _spread(layers: tuple[str, ...]) -> dict[str, str]:
    """Regions in depth order over the layers: four layers map one to one."""
    last = len(layers) - 1
    return {region: layers[round(i * last / (len(REGIONS) - 1))] for i, region in enumerate(REGIONS)}


def parse_regions(items) -> dict[str, str] | None:
    """``['V1=layer1', …]`` -> ``{'V1': 'layer1', …}``."""
    if not items:
        return None
    regions = {}
    for item in items:
        region, _, layer = item.partition('=')
        if region not in REGIONS or not layer or region in regions:
            raise RealnetError(f'`regions` {item!r}: expected REGION=LAYER once per region, REGION one of '
                               f'{" ".join(REGIONS)}')
        regions[region] = layer
    return regions


@torch.no_grad()
def probe_outputs(module: nn.Module, layers, image_size: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(logits, each layer's output) of one eval-mode pass over two blank images."""
    was_training = module.training
    module.eval()
    try:
        parameter = next(module.parameters())
        images = torch.zeros(2, 3, image_size, image_size, device=parameter.device, dtype=parameter.dtype)
        with LayerTaps(module, layers) as taps:
            logits = module(images)
            return logits, taps.take()
    finally:
        module.train(was_training)


class LayerTaps:
    """Forward hooks that keep the outputs of named submodules (``take()`` returns and clears them);
    removed on ``close()`` or when a ``with`` block ends."""

    def __init__(self, module: nn.Module, layers):
        modules = dict(module.named_modules())
        self.outputs = {}
        self.handles = [modules[layer].register_forward_hook(self._keeper(layer)) for layer in dict.fromkeys(layers)]

    def _keeper(self, layer: str):
        def keep(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise RealnetError(f'layer {layer!r} outputs a {type(output).__name__}, not a tensor; choose '
                                   'a module whose output is one tensor')
            self.outputs[layer] = output
        return keep

    def take(self) -> dict[str, torch.Tensor]:
        outputs, self.outputs = self.outputs, {}
        return outputs

    def close(self):
        for handle in self.handles:
            handle.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@torch.no_grad()
def _readout(module: nn.Module, image_size: int) -> str:
    """The last module to run before the classifier (the last module to run), passing over
    dropout, identity and flatten modules, which give no readout of their own."""
    order = []
    leaves = [(name, m) for name, m in module.named_modules() if name and not any(m.children())]
    handles = [m.register_forward_hook(lambda m, i, o, name=name: order.append((name, m))) for name, m in leaves]
    try:
        probe_outputs(module, [], image_size)
    finally:
        for handle in handles:
            handle.remove()
    meaningful = [name for name, m in order if not isinstance(m, _PASS_THROUGH)
                  and type(m).__name__ not in ('Identity', 'Flatten')]
    if len(meaningful) < 2:
        raise RealnetError('cannot find the module before the classifier (the behavioural readout)')
    return meaningful[-2]


def head_name(layer: str) -> str:
    """The head's Linear for ``layer``: ``fc_`` + its lower-cased name, ``V1`` -> ``fc_v1`` (the
    published ReAlnet names), ``layer4.1`` -> ``fc_layer4_1``."""
    return 'fc_' + re.sub(r'\W', '_', layer).lower()
