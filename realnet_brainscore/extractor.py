"""Brain-Score's PyTorch activations model, reading every region's layer in one pass over the images."""
from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper

AT_ONCE_BYTES = 2 ** 30  # the most float32 features of one stimulus set read and kept at once


class RegionsAtOnce(PytorchWrapper):
    """Brain-Score asks a model for one region's layer per benchmark, and each request runs the
    network over the images again: the four EEG regions of one stimulus set ran it four times, the
    eight fMRI ROIs eight. Here a request for one region's layer reads every region's layer in that
    pass and keeps them for the next request on the same images. A request gets the values a
    request of its layer alone gets: the same images in the same batches, and a hook reads a layer
    without changing it. Other requests (the behavioural readout, several layers, varying responses),
    and stimulus sets whose region features would exceed ``AT_ONCE_BYTES``, run as Brain-Score runs
    them."""

    def __init__(self, *args, region_layers, image_size: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.region_layers, self.image_size = list(dict.fromkeys(region_layers)), image_size
        self._features_per_image = None  # of every region layer together, probed on first use
        self._kept = None  # (the images and settings asked for, every region layer's activations)

    def __call__(self, stimuli, layers, stimuli_identifier=None, number_of_trials: int = 1,
                 require_variance: bool = False):
        options = {'stimuli_identifier': stimuli_identifier, 'number_of_trials': number_of_trials,
                   'require_variance': require_variance}
        if require_variance or len(layers) != 1 or layers[0] not in self.region_layers or not self._fits(stimuli):
            return super().__call__(stimuli, layers=layers, **options)
        request = (_images(stimuli), stimuli_identifier, number_of_trials)
        if self._kept is None or self._kept[0] != request:
            self._kept = None  # one stimulus set's features at a time
            self._kept = (request, super().__call__(stimuli, layers=self.region_layers, **options))
        activations = self._kept[1]
        return activations[{'neuroid': activations['layer'].values == layers[0]}]

    def _fits(self, stimuli) -> bool:
        if self._features_per_image is None:
            from .backbones import probe_outputs
            _, outputs = probe_outputs(self._model, self.region_layers, self.image_size)
            self._features_per_image = sum(output[0].numel() for output in outputs.values())
        return len(stimuli) * self._features_per_image * 4 <= AT_ONCE_BYTES


def _images(stimuli) -> tuple:
    """What identifies a request's images: a StimulusSet's identifier, ids and files, or the paths."""
    if hasattr(stimuli, 'get_stimulus'):
        ids = tuple(stimuli['stimulus_id'].values)
        return getattr(stimuli, 'identifier', None), ids, tuple(str(stimuli.get_stimulus(i)) for i in ids)
    return tuple(map(str, stimuli))
