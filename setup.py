import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
INIT = (HERE / 'realnet_brainscore' / '__init__.py').read_text(encoding='utf-8')
VERSION = re.search(r"__version__ = '([^']+)'", INIT).group(1)

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
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    # an SPDX expression (PEP 639) rather than a license classifier, which setuptools 77+ deprecates
    license_expression='MIT',
    license_files=['LICENSE'],
    # no project_urls: this package has no public repository or home page yet
    keywords=['Brain-Score', 'ReAlnet', 'CORnet-S', 'EEG', 'fMRI', 'representational similarity analysis'],
    classifiers=[
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3 :: Only',
        'Programming Language :: Python :: 3.11',
        'Operating System :: OS Independent',
        'Intended Audience :: Science/Research',
        'Topic :: Scientific/Engineering',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
        'Topic :: Scientific/Engineering :: Image Recognition',
    ],
    python_requires='>=3.11',
    packages=packages,
    package_dir={f'realnet_brainscore.{folder}': folder for folder in MAPPED},
    # each Brain-Score plugin folder names its requirements. The model plugin's templates are data:
    # submission/templates/ has no __init__.py (find_packages passes it by), model-plugin/ no importable name.
    package_data={'': ['requirements.txt'], 'realnet_brainscore.submission': ['templates/model-plugin/*.py']},
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
        'mne>=1.8,<1.13',       # cluster permutation tests, Epochs files; 1.13 needs numpy 2
        'mne-bids>=0.16',       # BIDS EEG/MEG recordings (data cards of format bids)
        'pybv',                 # BrainVision files: mne-bids writes in-silico BIDS EEG with it
        'h5py',                 # Shen 2019's bdpy files, fMRI betas in HDF5
        'numba>=0.59',          # the decoding EEG RDMs' SVM solver, compiled
        'matplotlib',
        'tqdm',
        'pillow',
        'packaging',          # requirement lines: exported plugins', and those `submission check` looks up
    ],
    # neurora: the authors' toolbox (1.1.6.12 has the `smooth` argument they used), to check the
    # decoding RDMs against it
    # timm: its models as backbones to align (--backbone timm:NAME); tested, so in the test extra too
    # pytest-check: Brain-Score's generic plugin tests need it (the website submission test runs them)
    # submitit: `brainscore sweep` runs its cells through it (local processes, SLURM arrays); tested, so in test too
    extras_require={'timm': ['timm>=1.0'], 'sweep': ['submitit>=1.5,<2'],
                    'test': ['pytest>=7', 'pytest-check', 'neurora==1.1.6.12', 'timm>=1.0', 'submitit>=1.5,<2']},
    entry_points={'console_scripts': ['brainscore = realnet_brainscore.cli:main']},
)
