"""The in-silico effect of two notebook choices of the `paper` recipe: ``python timing/recipe_effects.py OUT``.

1. Forward passes: one in-silico subject trained with 1 and with 2 forward passes per step (and 1 pass
   with another seed, for the seed-to-seed spread); printed per run: the last epoch's generation r and
   total loss on the test images (``--select-on test``: every training image trains, the test loss is
   logged each epoch) and the largest gap in batch-norm running means between the runs.
2. bf16 argmax: the fraction of in-silico images whose teacher argmax flips when the teacher runs under
   CPU bf16 autocast (the stand-in for CUDA's), at the training size and at 224 px.
A measurement script, not a test: the figures hold for this in-silico design only.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch

from realnet_brainscore.data.things_eeg2 import image_paths
from realnet_brainscore.synthetic import Design, insilico_cornet, write_things_eeg2
from realnet_brainscore.training import Recipe, Runtime, Source, train
from realnet_brainscore.training.data import decode_image, to_input


def flips(release: Path, size: int) -> tuple[float, int]:
    """(fraction of images whose argmax differs between fp32 and CPU bf16 autocast, images)."""
    paths = image_paths(release, 'training') + image_paths(release, 'test')
    teacher = insilico_cornet(image_paths(release, 'training'), size).eval()
    changed = 0
    with torch.no_grad():
        for i in range(0, len(paths), 16):
            x = to_input(np.stack([decode_image(p, size) for p in paths[i:i + 16]]), 'cpu')
            fp32 = teacher(x).argmax(1)
            with torch.autocast('cpu', dtype=torch.bfloat16):
                bf16 = teacher(x).argmax(1)
            changed += int((fp32 != bf16).sum())
    return changed / len(paths), len(paths)


def passes(release: Path, base: Path, out: Path, size: int, epochs: int) -> dict:
    runs = {}
    for name, settings in (('1 pass', {'forward_passes': 1}), ('2 passes', {'forward_passes': 2}),
                           ('1 pass, seed 2024', {'forward_passes': 1, 'seed': 2024})):
        recipe = Recipe(backbone_weights=base, image_size=size, epochs=epochs, lr=6e-5, select_on='test', **settings)
        folder = out / name.replace(' ', '').replace(',', '-')
        train(Source(things_eeg2=release, subject=1), recipe, Runtime(out=folder, progress=False,
                                                                      cache_dir=out / 'cache'))
        last = json.loads((folder / 'sub-01' / 'log.jsonl').read_text().splitlines()[-1])
        state = torch.load(folder / 'sub-01' / 'last.pt', weights_only=True)['state_dict']
        means = torch.cat([v.flatten() for k, v in state.items() if k.endswith('running_mean')])
        runs[name] = {'test_matched_r': last['val_matched_r'], 'test_loss': last['val_loss'], 'means': means}
    one, two, seed = (runs[k]['means'] for k in runs)
    print({k: {m: round(v[m], 4) for m in ('test_matched_r', 'test_loss')} for k, v in runs.items()})
    print('largest running-mean gap: 1 vs 2 passes', float((one - two).abs().max()),
          '| 1 pass, seed 2023 vs 2024', float((one - seed).abs().max()))
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', type=Path)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--epochs', type=int, default=3)
    args = parser.parse_args()
    release = write_things_eeg2(args.out / 'things', Design(subjects=1, concepts=20, images_per_concept=5,
                                                             test_images=30, test_repetitions=20, image_size=args.size))
    for size in (args.size, 224):
        fraction, n = flips(release, size)
        print(f'bf16 argmax flips at {size} px: {fraction:.3f} of {n} images')
    base = args.out / 'cornet.pth'
    torch.save({'state_dict': {f'module.{k}': v for k, v in insilico_cornet(
        image_paths(release, 'training'), args.size).state_dict().items()}}, base)
    passes(release, base, args.out, args.size, args.epochs)


if __name__ == '__main__':
    main()
