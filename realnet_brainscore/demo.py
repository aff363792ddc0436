"""The method end to end, offline, on in-silico subjects: generate the data, align two subjects'
ReAlnets from a baseline, score all three on the EEG and fMRI benchmarks, compare, draw."""
import json
import time
from pathlib import Path

import torch

from . import plugin
from .data.things_eeg2 import image_paths
from .files import atomic_path
from .models import load_model
from .report import plot_roi_rsa, plot_temporal_rsa
from .suite import run_suite
from .synthetic import Design, ShenDesign, insilico_cornet, write_shen2019, write_things_eeg2
from .training import TrainConfig, train

SIZE = 64


def run_demo(out, subjects=(1, 2), design: Design = Design(subjects=10, concepts=20, images_per_concept=5,
             test_images=30, test_repetitions=20, image_size=SIZE), epochs: int = 3, say=print) -> Path:
    out = Path(out)
    began = time.perf_counter()

    def step(text):
        say(f'[{time.perf_counter() - began:5.0f} s] {text}')

    step(f'writing in-silico THINGS-EEG2 ({design.subjects} subjects) and Shen 2019 data under {out / "data"}')
    things = write_things_eeg2(out / 'data' / 'things-eeg2', design)
    shen = write_shen2019(out / 'data' / 'shen2019', ShenDesign(image_size=SIZE))
    step('baseline: a CORnet-S with random weights and image-calibrated batch norm (no ImageNet weights offline)')
    baseline = out / 'models' / 'cornet-s-insilico.pth'
    baseline.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(baseline) as partial:
        model = insilico_cornet(image_paths(things, 'training'), SIZE)
        torch.save({'state_dict': {f'module.{k}': v for k, v in model.state_dict().items()}}, partial)
    candidates = {'baseline': ('cornet-s', baseline)}
    for subject in subjects:
        step(f'aligning CORnet-S with subject {subject} ({epochs} epochs)')
        summary = train(TrainConfig(things_eeg2=things, subject=subject, out=out / 'runs', cornet_weights=baseline,
                                    epochs=epochs, lr=6e-5, image_size=SIZE, progress=False,
                                    cache_dir=out / 'cache'))
        candidates[f'realnet-s{subject:02d}'] = (f'realnet-s{subject:02d}', Path(summary['best_checkpoint']))
    records = {}
    for name, (identifier, weights) in candidates.items():
        step(f'scoring {name} on {len(plugin.list_benchmarks())} EEG and fMRI benchmarks')
        model = load_model(identifier, weights=weights, batch_size=50, image_size=SIZE)
        results = run_suite(model, plugin.list_benchmarks(), things_eeg2=things, shen2019=shen)
        records[name] = {r['benchmark']: {**r['record'], 'model': name} for r in results if 'record' in r}
    table = comparison_table(records)
    say(table)
    report = write_report(out / 'report', records, table)
    step(f'done; the report is {report}')
    return report


def comparison_table(records: dict) -> str:
    names = list(records)
    benchmarks = list(dict.fromkeys(b for scores in records.values() for b in scores))
    lines = [f'{"benchmark":32}' + ''.join(f'{n:>14}' for n in names)]
    for benchmark in benchmarks:
        lines.append(f'{benchmark:32}' + ''.join(
            f'{records[n][benchmark]["score"]:14.3f}' if benchmark in records[n] else f'{"-":>14}' for n in names))
    return '\n'.join(lines)


def write_report(folder: Path, records: dict, table: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    flat = [r for scores in records.values() for r in scores.values()]
    eeg = [r for r in flat if r['benchmark'].endswith('temporal_rsa')]
    fmri = [r for r in flat if r['benchmark'].startswith('Shen2019.')]
    aligned = [n for n in records if n != 'baseline']
    significant = plot_temporal_rsa(eeg, folder / 'eeg_time_courses.png', pair=(aligned[0], 'baseline'))
    p_values = plot_roi_rsa(fmri, folder / 'fmri_rois.png', baseline='baseline')
    (folder / 'scores.json').write_text(json.dumps(records, indent=2))
    windows = '\n'.join(f'- {region}: {aligned[0]} ≠ baseline at '
                        + (f'{times.min() * 1000:.0f}–{times.max() * 1000:.0f} ms' if len(times) else 'no time point')
                        for region, times in significant.items())
    report = folder / 'report.md'
    report.write_text(f'''# ReAlnet demo on in-silico subjects

Scores (ceiling-normalised; EEG: Gifford2022 temporal RSA, fMRI: Shen2019 ROI RSA):

```
{table}
```

EEG time courses (`eeg_time_courses.png`), cluster-based permutation test across subjects:
{windows}

fMRI ROIs (`fmri_rois.png`), p values of the aligned models against the baseline:
{', '.join(f'{roi} {p:.3g}' for roi, p in p_values.items())}
''')
    return report
