"""Training of the subject-specific ReAlnets (installed as ``realnet_brainscore.training``): what a
run trains (``Recipe``), on which data (``Source``), how it runs (``Runtime``)."""
from .loop import train, train_together
from .recipe import RECIPES, Recipe
from .runtime import Runtime
from .source import Source

__all__ = ['RECIPES', 'Recipe', 'Runtime', 'Source', 'train', 'train_together']
