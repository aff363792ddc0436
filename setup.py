import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r"__version__ = '([^']+)'", (HERE / 'realnet_brainscore' / '__init__.py').read_text()).group(1)

# training/ and benchmarks/ sit at the top of the repository (Brain-Score's plugin layout) but are
# installed inside the package, so nothing installs a top-level `training` or `benchmarks` module.
MAPPED = ('training', 'benchmarks')
packages = find_packages(include=['realnet_brainscore', 'realnet_brainscore.*'])
for folder in MAPPED:
    packages += [f'realnet_brainscore.{name}' for name in find_packages(include=[folder, f'{folder}.*'])]

setup(
    name='realnet-brainscore',
    version=VERSION,
    description='ReAlnet (CORnet-S aligned with human EEG) as Brain-Score models and benchmarks',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    license='MIT',
    python_requires='>=3.11',
    packages=packages,
    package_dir={f'realnet_brainscore.{folder}': folder for folder in MAPPED},
    # each Brain-Score plugin folder names its requirements. The model plugin's templates are data:
    # templates/ has no __init__.py (find_packages passes it by), model-plugin/ no importable name.
    package_data={'': ['requirements.txt'], 'realnet_brainscore': ['templates/model-plugin/*.py']},
    install_requires=[
        'brainscore-vision>=2.4,<2.5',
        # the newest releases this environment serves; brainscore-vision needs torch>=2.6
        'torch>=2.6,<=2.14.1',
        'torchvision>=0.21,<=0.29.1',
        'numpy<2',              # brainscore-vision 2.4
        'scikit-learn<1.6',     # brainscore-vision 2.4
        # rsatoolbox 0.3 needs scikit-learn>=1.6, which brainscore-vision 2.4 forbids: 0.3 then
        # fails at import. 0.2.0 is the newest release that works beside it.
        'rsatoolbox==0.2.0',
        'mne>=1.6,<1.13',       # cluster permutation tests; 1.13 needs numpy 2
        'numba>=0.59',          # the decoding EEG RDMs' SVM solver, compiled
        'matplotlib',
        'tqdm',
        'pillow',
    ],
    # neurora: the authors' toolbox (1.1.6.12 has the `smooth` argument they used), to check the
    # decoding RDMs against it
    # timm: its models as backbones to align (--backbone timm:NAME); tested, so in the test extra too
    extras_require={'timm': ['timm>=1.0'], 'test': ['pytest>=7', 'neurora==1.1.6.12', 'timm>=1.0']},
    entry_points={'console_scripts': ['brainscore = realnet_brainscore.cli:main']},
)
