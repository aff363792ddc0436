"""Behaviour without network: Brain-Score's Rajalingham2018 benchmark code and its i2n metric, on a
generated stimulus set and generated human choices, through our ModelCommitment's probabilities
task. The planted structure is image visibility: simulated people err more on faint images, and so
does any observer reading the objects out of the network; the same people paired with the wrong
images must score near zero."""
import numpy as np
import pytest
from PIL import Image

from factories import SIZE
from realnet_brainscore.models import BEHAVIORAL_READOUT_LAYER, load_model
from realnet_brainscore.recording import stimulus_set

OBJECTS = {'disc': (220, 40, 40), 'square': (40, 170, 60), 'triangle': (40, 80, 220), 'bar': (230, 200, 40)}
IMAGES_PER_OBJECT = 20
TRIALS_PER_DISTRACTOR = 40


def draw(shape: str, visibility: float, rng) -> Image.Image:
    """The object blended into a grey noisy background: at visibility 0 it is gone."""
    from PIL import ImageDraw
    grey = np.full((SIZE, SIZE, 3), 128.0)
    mask = Image.new('L', (SIZE, SIZE))
    pen = ImageDraw.Draw(mask)
    r = SIZE * rng.uniform(0.28, 0.32)
    cx, cy = SIZE * rng.uniform(0.45, 0.55, 2)
    box = [cx - r, cy - r, cx + r, cy + r]
    if shape == 'disc':
        pen.ellipse(box, fill=255)
    elif shape == 'square':
        pen.rectangle(box, fill=255)
    elif shape == 'triangle':
        pen.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=255)
    else:
        pen.rectangle([cx - r, cy - r / 3, cx + r, cy + r / 3], fill=255)
    alpha = visibility * np.asarray(mask, dtype=float)[..., None] / 255
    pixels = grey * (1 - alpha) + np.array(OBJECTS[shape]) * alpha + rng.normal(0, 10, grey.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_stimuli(folder, name: str, rng):
    """Images of every object at visibilities spread over 0.05-0.6, as a StimulusSet with the
    columns Brain-Score's behavioural benchmarks use (image_label, object_name)."""
    folder.mkdir(parents=True)
    ids, paths, labels, visibilities = [], [], [], []
    for shape in OBJECTS:
        for index, visibility in enumerate(rng.permutation(np.linspace(0.05, 1.0, IMAGES_PER_OBJECT))):
            ids.append(f'{name}-{shape}-{index:02d}')
            paths.append(folder / f'{ids[-1]}.png')
            draw(shape, visibility, rng).save(paths[-1])
            labels.append(shape)
            visibilities.append(visibility)
    stimuli = stimulus_set(ids, paths, f'local-behaviour-{name}')
    stimuli['image_label'] = stimuli['object_name'] = labels
    return stimuli, np.array(visibilities)


def human_choices(stimuli, visibility, rng):
    """Two-alternative trials (the object against each other object), as a BehavioralAssembly in
    Rajalingham 2018's form: values are choices; coords stimulus_id, truth, sample_obj, dist_obj."""
    from brainscore_core.supported_data_standards.brainio.assemblies import BehavioralAssembly
    p_correct = 0.5 + 0.48 * (visibility - visibility.min()) / np.ptp(visibility)
    rows = []
    for stimulus_id, truth, p in zip(stimuli['stimulus_id'], stimuli['image_label'], p_correct):
        for distractor in OBJECTS:
            if distractor != truth:
                correct = rng.random(TRIALS_PER_DISTRACTOR) < p
                rows += [(stimulus_id, truth, distractor, truth if c else distractor) for c in correct]
    ids, truths, distractors, choices = map(np.array, zip(*rows))
    assembly = BehavioralAssembly(choices, dims=['presentation'], coords={
        'stimulus_id': ('presentation', ids), 'truth': ('presentation', truths),
        'sample_obj': ('presentation', truths), 'dist_obj': ('presentation', distractors)})
    assembly.attrs['stimulus_set'] = stimuli
    return assembly


def local_i2n_benchmark(identifier, fitting_stimuli, assembly):
    """Brain-Score's Rajalingham2018 benchmark (its __call__ and ceiling normalisation) with local
    data in place of the objectome stimuli and choices it downloads."""
    from brainscore_vision import load_metric
    from brainscore_vision.benchmarks import BenchmarkBase
    from brainscore_vision.benchmarks.rajalingham2018.benchmarks.benchmark import _DicarloRajalingham2018

    class LocalI2n(_DicarloRajalingham2018):
        def __init__(self):
            self._metric = load_metric('i2n')
            self._fitting_stimuli, self._assembly = fitting_stimuli, assembly
            self._visual_degrees, self._number_of_trials = 8, 2
            # the ceiling is cached under the identifier: each data set needs its own
            BenchmarkBase.__init__(self, identifier=identifier, version=1, parent='behavior',
                                   ceiling_func=lambda: self._metric.ceiling(self._assembly))

    return LocalI2n()


@pytest.fixture(scope='module')
def behaviour_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp('behaviour')
    rng = np.random.default_rng(0)
    fitting, _ = write_stimuli(folder / 'fitting', 'fitting', rng)
    test, visibility = write_stimuli(folder / 'test', 'test', rng)
    return fitting, test, visibility


def score_with_readout_spy(weights, identifier, fitting, assembly):
    """Score the local benchmark and record which layers the probabilities task read."""
    model = load_model('cornet-s', weights=weights, batch_size=40, image_size=SIZE)
    extractor, requested = model.activations_model, []

    def spy(stimuli, layers, **options):
        requested.append(list(layers))
        return extractor(stimuli, layers=layers, **options)

    model.behavior_model.mapping[model.Task.probabilities].activations_model = spy
    score = local_i2n_benchmark(identifier, fitting, assembly)(model)
    return score, requested


def test_i2n_through_our_readout_finds_the_planted_image_difficulty(insilico, behaviour_data):
    _, base, _ = insilico
    fitting, test, visibility = behaviour_data
    rng = np.random.default_rng(1)
    planted = human_choices(test, visibility, rng)
    score, requested = score_with_readout_spy(base, 'local-i2n-planted', fitting, planted)
    # the fitting images, then the test images, each through the readout the real benchmarks use
    assert requested == [[BEHAVIORAL_READOUT_LAYER]] * 2 == [['decoder.avgpool']] * 2
    ceiling = float(score.attrs['ceiling'])
    assert ceiling > 0.5, ceiling  # the simulated people agree with themselves across split halves
    assert float(score) > 0.35, (float(score), float(score.raw), ceiling)  # seeds 0-3 gave 0.45-0.57

    # the same choices attached to other images of the same object: the image-level pattern is gone
    shuffled_visibility = visibility.copy()
    for start in range(0, len(visibility), IMAGES_PER_OBJECT):
        rng.shuffle(shuffled_visibility[start:start + IMAGES_PER_OBJECT])
    control = human_choices(test, shuffled_visibility, rng)
    control_score, _ = score_with_readout_spy(base, 'local-i2n-control', fitting, control)
    assert abs(float(control_score)) < 0.25, float(control_score)  # seeds 0-3 gave -0.06-0.17
