"""A sweep file (TOML) read and checked: ``[train]`` options every cell shares, ``[grid]`` lists of
values whose every combination is a cell, ``[score]`` the benchmarks each cell's best checkpoint is
scored on, ``[executor]`` where the cells run. Keys of [train] and [grid] are `brainscore train`'s
long option names (``image_size`` or ``image-size``); a cell's options become an argument list that
train's own parser reads, so every check on them is train's. Errors are one line naming the file,
the table and the key."""
import argparse
import difflib
import hashlib
import itertools
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import RealnetError, first_line, printable

TABLES = ('train', 'grid', 'score', 'executor')
# train options a sweep sets itself (out, resume) or that would make a cell more than one model
NOT_IN_A_SWEEP = {
    'out': 'the sweep gives each cell its own run folder under DIR/cells/',
    'resume': 'a cell resumes from its last.pt by itself',
    'subjects': 'a cell trains one subject: list them as [grid] subject = [1, 2, ...]',
    'group': 'a cell trains one subject: list them as [grid] subject = [1, 2, ...]',
    'together': 'the sweep runs cells side by side itself: list subjects as [grid] subject = [1, 2, ...]',
    'help': 'it is no training option',
}
PATH_OPTIONS = ('things_eeg2', 'shen2019', 'data', 'backbone_weights')  # read relative to the sweep file
LABEL_LENGTH = 80  # characters of a cell's name taken from its varied settings, before its hash


@dataclass(frozen=True)
class Cell:
    """One combination of the grid: every train option it sets (fixed and varied), by key."""
    identifier: str            # DIR/cells/<identifier>: its varied settings, then a hash of all its settings
    options: dict              # key -> value as the sweep file gives it (paths made absolute)
    varied: dict               # the grid's keys -> this cell's values

    def train_argv(self, out) -> list[str]:
        """`brainscore train`'s arguments for this cell, writing its run into ``out``; always --resume:
        train starts afresh in an empty folder and continues from last.pt otherwise."""
        actions = train_actions()
        words = [word for key, value in self.options.items() for word in _words(actions[key], value)]
        return [*words, '--out', str(out), '--resume']


@dataclass(frozen=True)
class Sweep:
    path: Path
    train: dict                # key -> value: every cell's
    grid: dict                 # key -> list of values, in the file's order
    score: dict                # [score] as checked by score_settings (benchmarks and options)
    executor: dict             # [executor] as written (executors.py checks it once the executor is chosen)

    def plan(self) -> dict:
        """What decides the cells and their results: a re-run into the same folder must have the same."""
        return {'train': self.train, 'grid': self.grid, 'score': self.score}

    def cells(self) -> list[Cell]:
        keys = list(self.grid)
        cells = []
        for values in itertools.product(*(self.grid[key] for key in keys)):
            varied = dict(zip(keys, values))
            options = {**self.train, **varied}
            cells.append(Cell(cell_identifier(varied, options), options, varied))
        return cells

    def subjects(self) -> list[int]:
        """The subjects the cells are trained on, in the grid's order."""
        values = self.grid.get('subject', [self.train.get('subject')])
        return [value for value in values if isinstance(value, int)]


def load_sweep(path) -> Sweep:
    """The sweep in the TOML file ``path``, every key checked; a RealnetError of one line otherwise."""
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text(encoding='utf-8'))
    except FileNotFoundError:
        raise RealnetError(f'{path}: no such sweep file') from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise RealnetError(f'{path}: not a readable TOML file ({first_line(error)})') from error
    unknown = [name for name in table if name not in TABLES]
    if unknown:
        raise RealnetError(f'{path}: unknown table [{printable(unknown[0])}]; a sweep has {", ".join(TABLES)}')
    for name in TABLES:
        if not isinstance(table.get(name, {}), dict):
            raise RealnetError(f'{path}: {name} must be a table, [{name}]')
    train = {option: _value(path, 'train', key, value) for key, value in table.get('train', {}).items()
             for option in [train_key(path, 'train', key)]}
    grid = _grid(path, table.get('grid', {}), train)
    from .scoring import score_settings
    return Sweep(path, train, grid, score_settings(path, table.get('score', {})), table.get('executor', {}))


def _grid(path: Path, table: dict, train: dict) -> dict:
    grid = {}
    for key, values in table.items():
        option = train_key(path, 'grid', key)
        if option in train or option in grid:
            raise RealnetError(f'{path}: [grid] {key}: {option} is given twice (in [train] and [grid], or under two '
                               'names); a setting is fixed or varied')
        if not isinstance(values, list) or not values:
            raise RealnetError(f'{path}: [grid] {key}: expected a list of values, e.g. {key} = [1, 2]')
        grid[option] = [_value(path, 'grid', key, value) for value in values]
        if len({json.dumps(value) for value in grid[option]}) < len(values):
            raise RealnetError(f'{path}: [grid] {key}: a value is listed twice')
    return grid


def train_key(path: Path, table: str, key: str) -> str:
    """The option a key of [train] or [grid] names, as train's parser calls it (its first long
    option: ``cornet_weights`` is ``backbone_weights``)."""
    name = key.replace('-', '_')
    if name in NOT_IN_A_SWEEP:
        raise RealnetError(f'{path}: [{table}] {printable(key)}: not in a sweep ({NOT_IN_A_SWEEP[name]})')
    aliases = train_aliases()
    if name not in aliases:
        close = difflib.get_close_matches(name, list(aliases), n=1)
        hint = f'; did you mean {close[0]}?' if close else ' (see brainscore train --help)'
        raise RealnetError(f'{path}: [{table}] {printable(key)}: not an option of brainscore train{hint}')
    return aliases[name]


def _value(path: Path, table: str, key: str, value):
    """A TOML value train can take: a string, number or true/false, or a list of those (an option
    taking several values); a relative path option is read from the sweep file's folder."""
    option = train_aliases()[key.replace('-', '_')]
    action = train_actions()[option]
    several = action.nargs not in (None, 0, '?')
    allowed = (str, int, float, bool)
    if several and not (isinstance(value, list) and value and all(isinstance(v, allowed) for v in value)):
        raise RealnetError(f'{path}: [{table}] {key}: expected a list of values (train takes several), '
                           f'got {printable(repr(value))[:60]}')
    if not several and not isinstance(value, allowed):
        raise RealnetError(f'{path}: [{table}] {key}: expected a string, a number or true/false, '
                           f'got {printable(repr(value))[:60]}')
    if action.nargs == 0 and not isinstance(value, bool):
        raise RealnetError(f'{path}: [{table}] {key}: expected true or false, got {printable(repr(value))[:60]}')
    if option in PATH_OPTIONS and isinstance(value, str):
        return str((path.parent / Path(value).expanduser()).resolve())
    return value


def _words(action: argparse.Action, value) -> list[str]:
    """``value`` as train's command-line words: a flag for true (--no-FLAG or nothing for false)."""
    flag = action.option_strings[0]
    if value is True:
        return [flag]
    if value is False:
        return [f'--no-{flag[2:]}'] if isinstance(action, argparse.BooleanOptionalAction) else []
    return [flag, *map(str, value if isinstance(value, list) else [value])]


def cell_identifier(varied: dict, options: dict) -> str:
    """``subject-1_beta-100-1a2b3c4d``: the varied settings, readable, then a hash of every setting
    (so that two cells whose readable parts coincide still differ, and a cell keeps its name)."""
    label = '_'.join(f'{key}-{_label(value)}' for key, value in varied.items())[:LABEL_LENGTH] or 'cell'
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]
    return f'{label}-{digest}'


def _label(value) -> str:
    if isinstance(value, list):
        return '_'.join(_label(v) for v in value)
    text = Path(value).name if isinstance(value, str) and '/' in value else str(value)
    return re.sub(r'[^A-Za-z0-9.+]+', '-', text).strip('-') or 'x'


def train_parser() -> argparse.ArgumentParser:
    """`brainscore train`'s parser, as the command line has it."""
    from ..cli import build_parser
    commands = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    return commands.choices['train']


_ACTIONS: dict = {}


def train_actions() -> dict[str, argparse.Action]:
    """train's options by name (its first long option, without -- and with underscores)."""
    if not _ACTIONS:
        for action in train_parser()._actions:
            longs = [o for o in action.option_strings if o.startswith('--')]
            if longs:
                _ACTIONS[longs[0][2:].replace('-', '_')] = action
    return _ACTIONS


def train_aliases() -> dict[str, str]:
    """Every long option name of train (``cornet_weights`` too) -> the option's name."""
    return {o[2:].replace('-', '_'): name for name, action in train_actions().items()
            for o in action.option_strings if o.startswith('--') and not o.startswith('--no-')}
