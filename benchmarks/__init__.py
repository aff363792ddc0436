"""Brain-Score benchmark plugins, one folder each (installed as ``realnet_brainscore.benchmarks``)."""
