"""Time the bootstrap over subjects and images at the published size: ``python timing/bootstrap.py``.

Random data of the published EEG shape: a model RDM of 200 images (19,900 continuous values) and
10 subjects × 30 time points of RDMs, decoding accuracies rounded to 1/320 steps (so with ties as
real ones have). Times ``dual_bootstrap(model, rdms, 1000, seed=0)`` after a warm-up call (numba's
compilation): wall seconds and CPU seconds (time.process_time, numba's threads included).
``--against REV`` times the module as it is at git revision REV too, in the same run, and checks
that both give the same values. A timing script, not a test: its figures depend on the machine.
"""
import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def published_data(seed: int = 0, images: int = 200, subjects: int = 10, times: int = 30):
    rng = np.random.default_rng(seed)
    model = rng.random(images * (images - 1) // 2)
    noise = rng.standard_normal((subjects, times, len(model)))
    accuracy = 0.5 + 0.05 * model + 0.08 * np.abs(noise)
    return model, np.round(accuracy * 320) / 320


def module_at(revision: str):
    """realnet_brainscore.inference as it is at git ``revision``, loaded beside the current one."""
    source = subprocess.run(['git', 'show', f'{revision}:realnet_brainscore/inference.py'], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp(prefix='realnet-bootstrap-')) / 'inference_then.py'
    path.write_text(source)
    spec = importlib.util.spec_from_file_location('realnet_brainscore.inference_then', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def timed(function, model, rdms, samples: int, repeats: int):
    function(model, rdms, 20, seed=1)  # compiles (or loads numba's cache)
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        values = function(model, rdms, samples, seed=0)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        best = (wall, cpu) if best is None or cpu < best[1] else best
    return values, *best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python timing/bootstrap.py', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--samples', type=int, default=1000)
    parser.add_argument('--repeats', type=int, default=1, help='timed calls of each; the cheapest is printed')
    parser.add_argument('--against', metavar='REV', help='also time the module at this git revision (e.g. main)')
    args = parser.parse_args(argv)
    from realnet_brainscore.inference import dual_bootstrap
    model, rdms = published_data()
    print(f'model {model.shape}, rdms {rdms.shape}, {args.samples} samples')
    values, wall, cpu = timed(dual_bootstrap, model, rdms, args.samples, args.repeats)
    print(f'this tree: {wall:.2f} s wall, {cpu:.2f} s CPU')
    if args.against:
        then, then_wall, then_cpu = timed(module_at(args.against).dual_bootstrap, model, rdms, args.samples,
                                          args.repeats)
        gap = np.nanmax(np.abs(values - then))
        print(f'{args.against}: {then_wall:.2f} s wall, {then_cpu:.2f} s CPU; this tree is {then_cpu / cpu:.1f}x '
              f'cheaper in CPU, {then_wall / wall:.1f}x in wall; largest difference in values {gap:.1e}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
