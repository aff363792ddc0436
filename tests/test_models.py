"""The models through Brain-Score's own interface, on local stimuli and weights from local files
that record 64 px as their image size (the published 224 px default: test_checkpoint)."""
import numpy as np
import pytest
import torch

from factories import SIZE, independent_forward, random_cornet, stimulus_set, write_sized_checkpoint
from realnet_brainscore import list_models, load_model

BATCH = 4  # Brain-Score pads every batch to the batch size: keep CPU work small


def _checkpoint(tmp_path, seed, name, stimuli=None):
    model = random_cornet(seed)
    if stimuli is not None:
        # A random CORnet gives every image nearly the same features; a readout centred on these
        # images makes the predicted class depend on the image.
        torch.nn.init.normal_(model.decoder.linear.weight)
        with torch.no_grad():
            features = model.decoder.flatten(model.decoder.avgpool(independent_forward(model, stimuli, SIZE)['IT']))
            model.decoder.linear.bias.copy_(-model.decoder.linear(features).mean(0) + model.decoder.linear.bias)
    path = tmp_path / name
    write_sized_checkpoint(path, model, SIZE)
    return path, model


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('models')
    stimuli = stimulus_set(tmp_path / 'images', 4, identifier='realnet-test-look', seed=1)
    path, network = _checkpoint(tmp_path, seed=20, name='a.pth', stimuli=stimuli)
    return load_model('cornet-s', weights=path, batch_size=BATCH), network, stimuli, tmp_path


def test_list_models():
    assert list_models() == ['cornet-s'] + [f'realnet-s{n:02d}' for n in range(1, 11)]


def test_recording_it_gives_presentation_by_neuroid(setup):
    model, network, stimuli, _ = setup
    model.start_task(model.Task.passive)
    model.start_recording('IT', [(70, 170)])
    activations = model.look_at(stimuli)
    assert set(activations.dims) >= {'presentation', 'neuroid'}
    assert activations.sizes['neuroid'] == 512 * (SIZE // 32) ** 2 and activations.sizes['presentation'] == 4
    assert list(activations['stimulus_id'].values) == list(stimuli['stimulus_id'])
    it = independent_forward(network, stimuli, SIZE)['IT'].flatten(1).numpy()
    np.testing.assert_allclose(activations.transpose('presentation', 'neuroid').values.squeeze(), it,
                               rtol=1e-4, atol=1e-5)


def test_label_task_returns_the_imagenet_argmax(setup):
    model, network, stimuli, _ = setup
    model.start_task(model.Task.label, 'imagenet')
    labels = model.look_at(stimuli)
    logits = independent_forward(network, stimuli, SIZE)['logits'].numpy()
    assert list(labels['logit'].values) == list(logits.argmax(axis=1))
    assert len(set(labels['logit'].values)) > 1  # the images are told apart, not one constant answer
    assert all(str(label).startswith('n') and len(str(label)) == 9 for label in labels.values.ravel())


def test_probabilities_task_fits_the_readout_and_returns_probabilities(setup):
    model, _, stimuli, tmp_path = setup
    fitting = stimulus_set(tmp_path / 'fitting', 6, identifier='realnet-test-fit', seed=2,
                           labels=['dog', 'cat'] * 3)
    model.start_task(model.Task.probabilities, fitting)
    probabilities = model.look_at(stimuli)
    assert probabilities.dims == ('presentation', 'choice')
    assert sorted(probabilities['choice'].values) == ['cat', 'dog']
    np.testing.assert_allclose(probabilities.values.sum(axis=1), 1, rtol=1e-6)
    assert ((probabilities.values > 0) & (probabilities.values < 1)).all()


def test_two_models_side_by_side_are_independent(setup, monkeypatch):
    monkeypatch.setenv('RESULTCACHING_DISABLE', '1')  # compute every look_at, never serve it from disk
    model_a, _, stimuli, tmp_path = setup
    path_b, _ = _checkpoint(tmp_path, seed=21, name='b.pth')

    def it(model):
        model.start_task(model.Task.passive)
        model.start_recording('IT', [(70, 170)])
        return model.look_at(stimuli).transpose('presentation', 'neuroid').values.squeeze()

    before = it(model_a)
    model_b = load_model('realnet-s01', weights=path_b, batch_size=BATCH)
    assert model_b.identifier.startswith('realnet-s01+') and model_b.identifier != model_a.identifier
    after_b = it(model_b)
    assert not np.allclose(after_b, before)
    np.testing.assert_array_equal(it(model_a), before)  # loading b left a untouched


def test_the_regions_of_one_stimulus_set_are_read_in_one_pass(setup, monkeypatch):
    """Four region requests on the same images run the network once, and each gets what Brain-Score's
    own wrapper gives for its layer alone; above the memory bound each request runs its own pass."""
    import functools
    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper, load_preprocess_images
    from realnet_brainscore import extractor
    monkeypatch.setenv('RESULTCACHING_DISABLE', '1')
    model, network, stimuli, _ = setup
    model.activations_model._kept = model.activations_model._features_per_image = None  # as loaded
    passes = []
    hook = model.activations_model._model.register_forward_hook(lambda module, inputs, _: passes.append(len(inputs[0])))
    plain = PytorchWrapper(model=network.eval(), preprocessing=functools.partial(load_preprocess_images, image_size=SIZE),
                           batch_size=BATCH, identifier=model.identifier)

    def region(name):
        model.start_task(model.Task.passive)
        model.start_recording(name, [(70, 170)])
        features = model.look_at(stimuli)
        return features.squeeze('time_bin', drop=True) if 'time_bin' in features.dims else features
    try:
        for name in ('V1', 'V2', 'V4', 'IT'):
            features = region(name).transpose('presentation', 'neuroid')
            alone = plain(stimuli, layers=[name]).transpose('presentation', 'neuroid')
            np.testing.assert_array_equal(features.values, alone.values)
            assert list(features['neuroid_id'].values) == list(alone['neuroid_id'].values)
            assert set(features['region'].values) == {name}
        assert passes == [2, BATCH]  # the layers' sizes probed on two blank images, then the four images once
        monkeypatch.setattr(extractor, 'AT_ONCE_BYTES', 0)
        model.activations_model._kept = None
        for name in ('V1', 'IT'):
            region(name)
        assert passes == [2, BATCH, BATCH, BATCH]
    finally:
        hook.remove()
