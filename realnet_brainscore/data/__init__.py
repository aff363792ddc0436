"""Readers that turn published data files into Brain-Score assemblies."""
