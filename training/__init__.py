"""Training of the subject-specific ReAlnets (installed as ``realnet_brainscore.training``)."""
