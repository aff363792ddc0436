"""Training of the subject-specific ReAlnets (installed as ``realnet_brainscore.training``)."""
from .trainer import TrainConfig, train, train_together

__all__ = ['TrainConfig', 'train', 'train_together']
