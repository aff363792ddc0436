"""Every command in README.md and docs/*.md runs as written.

Commands are read from the fenced code blocks, except those marked ``python`` (Python code) or ``text``
(layouts, file trees);
a line continued with ``\\`` is one command, ``&&`` separates commands, leading ``NAME=value``
assignments are dropped. Then:

- every ``brainscore …`` line (also ``.venv/bin/brainscore`` and ``… -m realnet_brainscore.cli …``)
  parses with the real parser, placeholders (``PLACEHOLDERS``) standing for paths: a renamed or
  removed flag fails here, naming the line;
- every ``python -m MODULE`` names a module that exists, every ``python PATH.py`` a file of the
  repository (``python`` being ``python``, ``python3`` or ``.venv/bin/python``);
- the quick commands, chosen by ``is_quick`` below, really run in a subprocess, offline, in an
  empty home, and exit 0;
- every link into README.md or docs/ names a file and heading that exist.
"""
import functools
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]
PLACEHOLDERS = ('THINGS_DIR', 'SHEN_DIR', 'FILE')  # paths the reader supplies
PYTHONS = ('python', 'python3', '.venv/bin/python')
CLI_MODULE = 'realnet_brainscore.cli'

# Quick commands: no data, no network, seconds. A command is run when its words start with one of
# these, or when it is a `brainscore` command ending in --help.
QUICK = (
    ('brainscore', '--help'),
    ('brainscore', 'models'),
    ('brainscore', 'benchmarks'),
    ('brainscore', 'weights', 'list'),
    ('brainscore', 'synth'),
)
QUICK_PYTHON = 'import realnet_brainscore'  # `python -c "import realnet_brainscore…"` needs no data


@dataclass(frozen=True)
class Command:
    where: str                 # file:line of the command's first line
    words: tuple[str, ...]     # shell words, the program's name normalised (brainscore, python)

    def __str__(self):
        return f'{self.where}: {shlex.join(self.words)}'


def code_lines(path: Path):
    """(line number, text) of each command line in the file's fenced shell blocks, continuations
    joined."""
    in_block, shell, pending, start = False, False, '', 0
    for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
        if line.lstrip().startswith('```'):
            in_block = not in_block
            shell = in_block and line.strip().strip('`') in ('', 'bash', 'sh', 'shell', 'console')
            continue
        if not (in_block and shell):
            continue
        if not pending:
            start = number
        if line.rstrip().endswith('\\'):
            pending += line.rstrip()[:-1] + ' '
            continue
        yield start, pending + line
        pending = ''


def normalised(words: list[str]) -> tuple[str, ...]:
    while words and re.fullmatch(r'[A-Z_][A-Z0-9_]*=\S*', words[0]):
        words = words[1:]  # environment assignments
    if not words:
        return ()
    program = words[0]
    if program == 'brainscore' or program.endswith('/brainscore'):
        program = 'brainscore'
    elif program in PYTHONS:
        program = 'python'
    return (program, *words[1:])


def documented_commands() -> list[Command]:
    commands = []
    for path in DOCUMENTS:
        for number, text in code_lines(path):
            try:
                words = shlex.split(text, comments=True)
            except ValueError as error:
                raise AssertionError(f'{path.relative_to(ROOT)}:{number}: {error}: {text}')
            segment = []
            for word in [*words, '&&']:
                if word != '&&':
                    segment.append(word)
                    continue
                if command := normalised(segment):
                    commands.append(Command(f'{path.relative_to(ROOT)}:{number}', command))
                segment = []
    return commands


COMMANDS = documented_commands()


def cli_arguments(command: Command) -> list[str] | None:
    """The arguments the `brainscore` parser gets from this command, or None if it runs another program."""
    program, *rest = command.words
    if program == 'brainscore':
        return rest
    if program in ('python', 'torchrun') and '-m' in rest:
        at = rest.index('-m')
        if rest[at + 1:at + 2] == [CLI_MODULE]:
            return rest[at + 2:]
    return None


def is_quick(command: Command) -> bool:
    words = command.words
    if words[0] == 'brainscore' and words[-1] == '--help':
        return True
    if words[:2] == ('python', '-c'):
        return len(words) == 3 and words[2].startswith(QUICK_PYTHON)
    return any(words[:len(prefix)] == prefix for prefix in QUICK)


@functools.cache
def parser():
    from realnet_brainscore.cli import build_parser
    return build_parser()


def test_the_documents_show_commands():
    assert {path.name for path in DOCUMENTS} >= {'README.md', 'training.md', 'benchmarks.md'}
    assert sum(cli_arguments(command) is not None for command in COMMANDS) > 20
    assert sum(is_quick(command) for command in COMMANDS) >= 5


@pytest.mark.parametrize('command', [c for c in COMMANDS if cli_arguments(c) is not None], ids=str)
def test_brainscore_command_parses(command, tmp_path, capsys):
    stand_ins = {name: str(tmp_path / name.lower()) for name in PLACEHOLDERS}
    arguments = [stand_ins.get(word, word) for word in cli_arguments(command)]
    try:
        parser().parse_args(arguments)
    except SystemExit as exit:
        if exit.code != 0 or '--help' not in arguments:
            pytest.fail(f'{command}\ndoes not parse: {capsys.readouterr().err.strip()}')


def test_named_modules_and_scripts_exist():
    missing = []
    for command in COMMANDS:
        program, *rest = command.words
        if program not in ('python', 'torchrun'):
            continue
        if '-m' in rest:
            module = rest[rest.index('-m') + 1]
            if importlib.util.find_spec(module) is None:
                missing.append(f'{command}: no module {module}')
        elif program == 'python' and rest and rest[0].endswith('.py') and not (ROOT / rest[0]).is_file():
            missing.append(f'{command}: no file {rest[0]}')
    assert not missing, '\n'.join(missing)


def quick_environment(home: Path) -> dict:
    environment = {name: value for name, value in os.environ.items()
                   if name not in ('REALNET_THINGS_EEG2', 'REALNET_SHEN2019')}
    for name in ('REALNET_HOME', 'RESULTCACHING_HOME', 'BRAINIO_HOME', 'BRAINSCORE_HOME', 'MT_HOME'):
        environment[name] = str(home / name.lower())
    return {**environment, 'BS_INSTALL_DEPENDENCIES': 'no', 'REALNET_OFFLINE': '1'}


# Runs each quick `brainscore` command as the `brainscore` script does (cli.main), in a folder of its
# own; one process for all of them, as each process spends most of its seconds importing.
RUN_EACH = """
import contextlib, io, json, os, sys
from realnet_brainscore.cli import main
results = []
for folder, arguments in json.loads(sys.argv[1]):
    os.chdir(folder)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = main(arguments)
        except SystemExit as exit:
            status = exit.code
    results.append([status, stdout.getvalue(), stderr.getvalue()])
print(json.dumps(results))
"""


def quick_commands() -> list[Command]:
    return list({command.words: command for command in COMMANDS if is_quick(command)}.values())


def started(arguments: list[str], folder: Path, home: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *arguments], cwd=folder, env=quick_environment(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def outcome(process: subprocess.Popen) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    """(exit status, stdout, stderr) of every quick command, by its words. The `brainscore` ones run
    in one process, each `python -c` line in its own, all at once, in an empty home."""
    home = tmp_path_factory.mktemp('home')
    clis = [command.words for command in quick_commands() if command.words[0] == 'brainscore']
    plan = [[str(tmp_path_factory.mktemp('quick')), list(words[1:])] for words in clis]
    cli_run = started(['-c', RUN_EACH, json.dumps(plan)], home, home)
    python_runs = {command.words: started(list(command.words[1:]), tmp_path_factory.mktemp('quick'), home)
                   for command in quick_commands() if command.words[0] == 'python'}
    results = {words: outcome(process) for words, process in python_runs.items()}
    status, stdout, stderr = outcome(cli_run)
    each = json.loads(stdout.splitlines()[-1]) if status == 0 else [(status, '', stderr)] * len(clis)
    results.update(zip(clis, map(tuple, each)))
    return results


@pytest.mark.parametrize('command', quick_commands(), ids=str)
def test_quick_command_runs(command, finished):
    assert not set(command.words) & set(PLACEHOLDERS), f'{command}: a quick command needs no data'
    status, stdout, stderr = finished[command.words]
    assert status == 0, f'{command}\nexit status {status}: {stderr[-2000:]}'
    assert stdout.strip() or stderr.strip()


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors of a markdown file's headings: lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    for line in path.read_text(encoding='utf-8').splitlines():
        if match := re.match(r'#{1,6} (.*)', line):
            anchors.add(re.sub(r'[^\w\- ]', '', match.group(1).lower()).replace(' ', '-'))
    return anchors


def test_links_between_documents_resolve():
    broken = []
    for path in DOCUMENTS:
        for target in re.findall(r'\]\(([^)\s]+)\)', path.read_text(encoding='utf-8')):
            if re.match(r'[a-z]+:', target):
                continue  # a web address
            file, _, anchor = target.partition('#')
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f'{path.relative_to(ROOT)}: {target}: no such file')
            elif anchor and anchor not in heading_anchors(linked):
                broken.append(f'{path.relative_to(ROOT)}: {target}: no such heading')
    assert not broken, '\n'.join(broken)


def test_docs_cited_in_the_code_exist():
    """A comment citing `docs/NAME.md#heading` names a document and heading that exist."""
    broken = []
    for folder in ('realnet_brainscore', 'training', 'benchmarks', 'timing', 'tests', '.ci'):
        for path in sorted((ROOT / folder).rglob('*')):
            if not path.is_file() or path.suffix not in ('.py', '') or path == Path(__file__):
                continue
            for file, anchor in re.findall(r'docs/([\w-]+\.md)(?:#([\w-]+))?', path.read_text(errors='replace')):
                if not (ROOT / 'docs' / file).is_file():
                    broken.append(f'{path.relative_to(ROOT)}: docs/{file}: no such file')
                elif anchor and anchor not in heading_anchors(ROOT / 'docs' / file):
                    broken.append(f'{path.relative_to(ROOT)}: docs/{file}#{anchor}: no such heading')
    assert not broken, '\n'.join(broken)


def test_readme_is_short_and_shows_the_ci_commands():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    assert len(readme.splitlines()) <= 190  # with a data-set card of each format
    ci = (ROOT / '.ci' / 'run').read_text(encoding='utf-8')
    test_line = next(line for _, line in code_lines(ROOT / 'README.md') if line.endswith('-m pytest'))
    for step in test_line.split(' && '):
        assert step in ci, f'.ci/run no longer runs the README\'s `{step}`'


def test_the_readmes_cards_are_cards_of_each_format():
    """Each ```toml block of the README parses as a data-set card (its paths need not exist to parse)."""
    from realnet_brainscore.data.card import FORMATS, parse_card
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    blocks = re.findall(r'```toml\n(.*?)```', readme, flags=re.S)
    cards = [parse_card(ROOT / f'card{n}.toml', block) for n, block in enumerate(blocks)]
    assert sorted(card.format for card in cards) == sorted(FORMATS)
