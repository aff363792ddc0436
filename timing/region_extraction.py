"""Time reading CORnet-S's four regions (V1 V2 V4 IT) for one stimulus set through Brain-Score.

    python timing/region_extraction.py [--images 200] [--image-size 224]

Brain-Score's region benchmarks ask for one region at a time. This times the four requests of one
stimulus set (random images, CORnet-S with random weights, Brain-Score's result cache off) twice in
one run: each region read in its own pass over the images, as Brain-Score's PyTorch wrapper does,
and every region read in one pass (``realnet_brainscore.extractor``), and prints the ratio.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

REGIONS = ('V1', 'V2', 'V4', 'IT')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python timing/region_extraction.py', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=200, help='stimulus-set size (THINGS-EEG2 test: 200)')
    parser.add_argument('--image-size', type=int, default=224, help="the model's input pixels")
    args = parser.parse_args(argv)
    os.environ['RESULTCACHING_DISABLE'] = '1'  # every request computes: nothing is served from disk
    import torch
    from PIL import Image
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet
    from realnet_brainscore import extractor, load_model
    from realnet_brainscore.cornet import CORnetS
    folder = Path(tempfile.mkdtemp(prefix='realnet-extraction-'))
    rng = np.random.default_rng(0)
    ids = [f'image-{i}' for i in range(args.images)]
    for name in ids:
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(folder / f'{name}.png')
    stimuli = StimulusSet({'stimulus_id': ids})
    stimuli.stimulus_paths = {name: folder / f'{name}.png' for name in ids}
    stimuli.identifier = 'realnet-extraction-timing'
    torch.save({'state_dict': {f'module.{k}': v for k, v in CORnetS().state_dict().items()}}, folder / 'cornet.pth')
    model = load_model('cornet-s', weights=folder / 'cornet.pth', image_size=args.image_size)
    model.activations_model._fits(stimuli)  # the one probe of the layers' sizes, outside the timing
    seconds = {}
    for label, at_once_bytes in (('one pass per region', 0), ('all regions in one pass', extractor.AT_ONCE_BYTES)):
        extractor.AT_ONCE_BYTES, model.activations_model._kept = at_once_bytes, None
        began = time.perf_counter()
        for region in REGIONS:
            model.start_task(model.Task.passive)
            model.start_recording(region, [(70, 170)])
            model.look_at(stimuli)
        seconds[label] = time.perf_counter() - began
        print(f'{label}: {seconds[label]:.1f} s for {len(REGIONS)} regions of {args.images} images at '
              f'{args.image_size} px')
    print(f'ratio: {seconds["one pass per region"] / seconds["all regions in one pass"]:.2f}x')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
