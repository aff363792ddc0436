"""Our plugins outside this package: Brain-Score website submissions and installs into a
brainscore_vision tree.

- ``render``: plugin folders as files (the model plugin from templates/model-plugin, our benchmark
  plugins), made self-contained for the website by ``vendoring``;
- ``export``: `brainscore submission export`, a zip or a folder;
- ``rules``: the website's rules for a zip (`brainscore submission check`), with requirements
  looked up in a package index by ``package_index``;
- ``installation``: `brainscore plugins install|uninstall`.
"""
from .export import export_benchmarks, export_model
from .installation import INSTALLED_FOLDER, brainscore_vision_dir, install, uninstall
from .render import (TEMPLATES, benchmark_plugins, model_plugin, website_benchmark_plugins, website_model_plugin,
                     website_refusal)
from .rules import MAX_ZIP_BYTES, Problems, check

__all__ = ['INSTALLED_FOLDER', 'MAX_ZIP_BYTES', 'TEMPLATES', 'Problems', 'benchmark_plugins', 'brainscore_vision_dir',
           'check', 'export_benchmarks', 'export_model', 'install', 'model_plugin', 'uninstall',
           'website_benchmark_plugins', 'website_model_plugin', 'website_refusal']
