"""The method end to end, offline, on in-silico subjects: generate the data, align two subjects'
ReAlnets from a baseline, score all three on the EEG and fMRI benchmarks, compare, draw."""
import time
from pathlib import Path

from . import plugin
from .checkpoint import write_checkpoint
from .data.things_eeg2 import image_paths
from .report import comparison_table, write_report
from .score_store import Candidate, records_by_model, score_models
from .synthetic import Design, ShenDesign, insilico_cornet, write_shen2019, write_things_eeg2
from .training import Recipe, Runtime, Source, train

SIZE = 64
# How the demo scores: whole images, as the authors fed them, and correlation EEG RDMs — the paper's
# decoding RDMs want ~80 trials an image (16 pseudo-trials) and minutes, the demo's 20 give 4.
SCORING = {'screen': 'whole', 'method': 'correlation'}
PREFACE = ('In-silico subjects (`data/`): the EEG and fMRI come from a hidden random network, not from people. '
           '`cornet-s` here is the offline stand-in for the ImageNet CORnet-S (random weights, batch norm '
           'calibrated on the images); each `realnet-sNN` is it aligned with in-silico subject NN (the default '
           '`paper` training recipe, a few epochs at lr 6e-5). Scored with whole images, as the authors fed them, and '
           'correlation EEG RDMs, which take seconds; the paper\'s pairwise-decoding RDMs are the benchmarks\' '
           'default (`brainscore compare --paper`), minutes per subject and meant for 80 trials an image.\n\n')


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
    write_checkpoint(baseline, insilico_cornet(image_paths(things, 'training'), SIZE).state_dict(),
                     meta={'config': {'image_size': SIZE}})
    candidates = [Candidate('cornet-s', baseline)]
    for subject in subjects:
        step(f'aligning CORnet-S with subject {subject} ({epochs} epochs)')
        summary = train(Source(things_eeg2=things, subject=subject),
                        Recipe(backbone_weights=baseline, epochs=epochs, lr=6e-5, image_size=SIZE),
                        Runtime(out=out / 'runs', progress=False, cache_dir=out / 'cache'))
        candidates.append(Candidate(f'realnet-s{subject:02d}', Path(summary['best_checkpoint'])))
    step(f'scoring {len(candidates)} models on {len(plugin.list_benchmarks())} EEG and fMRI benchmarks')
    results = score_models(candidates, out / 'report' / 'scores', plugin.list_benchmarks(), things_eeg2=things,
                           shen2019=shen, batch_size=50, say=step, options=SCORING)
    say(comparison_table(records_by_model(results)))
    report = write_report(out / 'report', results, baseline='cornet-s', title='ReAlnet demo on in-silico subjects',
                          preface=PREFACE)
    step(f'done; the report is {report}')
    return report
