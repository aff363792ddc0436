"""Hostile input, issue 26 rules 1 and 2: names are confined where they are made, text from files
reaches the terminal escaped, and no output of a command may be one of its inputs or lie inside one.

Each case runs the real command line (``cli.main``: exit 2, one line on stderr) or the function
where the name is made, on planted checkpoints written by the package's own writer; each shows that
the user's files are byte for byte unchanged and that nothing was written where it was refused.
"""
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from realnet_brainscore import cli, identifiers
from realnet_brainscore.checkpoint import write_checkpoint
from realnet_brainscore.errors import RealnetError

# A backbone record of a checkpoint's meta, as the trainer writes one (its name is what is hostile).
RECORD = {'layers': ['a'], 'regions': {'IT': 'a'}, 'readout': 'a'}


def planted(path: Path, **meta) -> Path:
    """A checkpoint as this package writes one: a tiny state dict (its tensors are never loaded, the
    name is refused first) and ``meta``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_checkpoint(path, {'w': torch.zeros(2)}, meta=meta)
    return path


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (links not followed) with the hash of its bytes: what a refused
    command must leave exactly as it was."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else 'folder'
            for p in sorted(folder.rglob('*'))}


def refused(argv, capsys) -> str:
    """The one line a refused command prints (asserting exit 2, one line, nothing raw from a file)."""
    assert cli.main([str(a) for a in argv]) == 2
    captured = capsys.readouterr()
    error = captured.err
    assert error.count('\n') == 1 and error.startswith('brainscore: error: '), error
    assert '\x1b' not in error and '\r' not in error
    return error


# --- Rule 1: names are confined where they are made -------------------------------------------------

@pytest.mark.parametrize('backbone, modality, subject', [
    ('cornet-s', 'ECoG', 1),          # no such modality
    ('cornet-s', 'eeg', 1),           # the name's spelling, not the modality's
    ('cornet-s', 'EEG', 0),           # s00: no subject
    ('cornet-s', 'EEG', 100),         # s100: three digits
    ('cornet-s', 'EEG', True),        # a bool is no subject number
    ('cornet-s', 'EEG', '01'),        # text is no subject number
    ('../../evil', 'EEG', 1),         # separators and '..'
    ('-rf', 'fMRI', 1),               # an option, once a name on a command line
    ('x' * 200, 'EEG', 1),            # longer than any file name should be
])
def test_an_aligned_name_is_made_only_of_allowed_parts(backbone, modality, subject):
    with pytest.raises(RealnetError) as error:
        identifiers.aligned(backbone, modality, subject)
    assert 'is not allowed' in str(error.value) and '\n' not in str(error.value)


def test_a_parsed_name_with_subject_00_is_refused_and_check_subject_is_the_rule():
    with pytest.raises(RealnetError, match='subject 0 is not allowed'):
        identifiers.parse('resnet50-eeg-s00')
    assert identifiers.check_subject(99) == 99 and str(identifiers.parse('realnet-s10')) == 'realnet-s10'
    with pytest.raises(RealnetError, match="subject '3' is not allowed: a whole number from 1 to 99"):
        identifiers.check_subject('3')


@pytest.mark.parametrize('meta, shown', [
    ({'subject': 0}, 'subject 0 is not allowed'),
    ({'subject': 1, 'modality': 'ECoG'}, "modality 'ECoG' is not allowed"),
    ({'subject': 1, 'modality': 7}, 'modality 7 is not allowed'),                     # not text at all
    ({'subjects': [1, 2], 'modality': ['EEG']}, "modality ['EEG'] is not allowed"),
    ({'subject': 1, 'backbone': {'name': '../../../evil', **RECORD}}, "backbone name '../../../evil' is not"),
    ({'subject': 1, 'backbone': {'name': 'a' * 300, **RECORD}}, 'backbone name'),
    ({'subject': 1, 'backbone': {'name': ['x'], **RECORD}}, 'backbone name "[\'x\']" is not allowed'),
    ({'subject': 1, 'modality': 'EEG\x1b[2J\n'}, r"modality 'EEG\x1b[2J\n' is not allowed"),
])
def test_a_checkpoint_gives_itself_no_name_a_path_could_not_hold(meta, shown, tmp_path):
    from realnet_brainscore.checkpoint import read_checkpoint
    from realnet_brainscore.models import checked_name
    path = planted(tmp_path / 'run.pt', **meta)
    with pytest.raises(RealnetError) as error:
        checked_name('realnet-s01', read_checkpoint(path), path)  # whatever name it is asked to load as
    message = str(error.value)
    assert message.startswith(f'{path}: its metadata gives it no usable model name: ') and shown in message
    assert '\n' not in message and '\x1b' not in message


def test_compare_refuses_the_hostile_name_of_a_planted_checkpoint_before_any_writing(tmp_path, capsys):
    weights = planted(tmp_path / 'mine.pt', subject=0)
    before = tree(tmp_path)
    error = refused(['compare', '--models', f'realnet-s00={weights}', '--benchmarks', 'Gifford2022.IT-temporal_rsa',
                     '--out', tmp_path / 'out', '-q'], capsys)
    assert f'{weights}: its metadata gives it no usable model name: subject 0 is not allowed' in error
    assert tree(tmp_path) == before


@pytest.mark.parametrize('command', [
    ['score', '--benchmark', 'Gifford2022.IT-temporal_rsa'],
    ['submission', 'export', '--weights-url', 'https://example.org/w.pt', '--out', 'OUT'],
])
def test_score_and_export_refuse_the_hostile_name_of_a_planted_checkpoint(command, tmp_path, capsys):
    weights = planted(tmp_path / 'mine.pt', subject=1, modality='EEG\x1b[2J')
    before = tree(tmp_path)
    argv = [tmp_path / 'out' if a == 'OUT' else a for a in command]
    error = refused([*argv, '--model', 'realnet-s01', '--weights', weights], capsys)
    assert f"{weights}: its metadata gives it no usable model name: modality 'EEG\\x1b[2J' is not allowed" in error
    assert tree(tmp_path) == before


def test_a_typed_name_with_dot_dot_never_names_a_kept_score_file_outside_out(tmp_path, capsys):
    """timm:NAME with a file is a backbone name; 'timm:../../../victim' once kept scores in
    OUT/scores/timm:../../../victim.json, which is OUT/../victim.json."""
    weights = planted(tmp_path / 'mine.pt')
    before = tree(tmp_path)
    error = refused(['compare', '--models', f'timm:../../../victim={weights}', '--benchmarks',
                     'Gifford2022.IT-temporal_rsa', '--out', tmp_path / 'out', '-q'], capsys)
    assert "model name 'timm:../../../victim' is not allowed" in error
    assert tree(tmp_path) == before


@pytest.mark.parametrize('name', ['realnet-s01\x1b[2J', 'realnet-s01\nok', 'a/b', '-evil-eeg-s01', 'a' * 129])
def test_a_typed_model_name_is_confined_and_shown_escaped(name, tmp_path, capsys):
    error = refused(['compare', f'--models={name}', '--out', tmp_path / 'out', '-q'], capsys)
    assert 'is not allowed' in error
    assert not (tmp_path / 'out').exists()


def test_the_plugin_of_an_export_takes_only_confined_names():
    from realnet_brainscore.submission.render import model_plugin
    with pytest.raises(RealnetError, match="model name '../evil' is not allowed"):
        model_plugin(['../evil'])
    with pytest.raises(RealnetError, match='is not allowed'):
        model_plugin(["x'); import os; ('"])


def test_export_refuses_a_name_before_it_becomes_a_folder(tmp_path, capsys):
    error = refused(['submission', 'export', '--model', '../../evil', '--out', tmp_path / 'out'], capsys)
    assert "model name '../../evil' is not allowed" in error
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'evil').exists()


# --- Rule 1: text from files reaches the terminal escaped --------------------------------------------

def test_channel_names_from_a_data_file_are_escaped_in_the_warning(capsys):
    from realnet_brainscore.data.things_eeg2 import warn_unless_posterior
    warn_unless_posterior(['Oz', 'Fp1\x1b]0;owned\x07', 'Cz\r'], 'sub-01.npy')
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and '\x1b' not in error and '\x07' not in error and '\r' not in error
    assert r'Fp1\x1b]0;owned\x07' in error and r'Cz\r' in error


def test_the_comparison_table_shows_names_from_score_files_escaped():
    from realnet_brainscore.records import ScoreRecord
    from realnet_brainscore.report import comparison_table
    record = ScoreRecord(model='m', benchmark='b\x1b[31m', score=0.5)
    table = comparison_table({'m\nfake row': {'b\x1b[31m': record}})
    assert table.count('\n') == 1 and '\x1b' not in table and r'm\nfake row' in table and r'b\x1b[31m' in table


# --- Rule 2: every input is an input -----------------------------------------------------------------

@pytest.fixture
def data(tmp_path):
    """A data folder the user owns (any files: outputs are refused before it is read)."""
    folder = tmp_path / 'things'
    (folder / 'preprocessed_data').mkdir(parents=True)
    (folder / 'image_metadata.npy').write_bytes(b'the data set')
    (folder / 'preprocessed_data' / 'notes.json').write_bytes(b'{"mine": true}')
    return folder


def test_score_json_onto_a_data_file_is_refused_even_with_force(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('REALNET_OFFLINE', '1')
    before = tree(tmp_path)
    error = refused(['score', '--model', 'cornet-s', '--things-eeg2', data, '--json',
                     data / 'preprocessed_data' / 'notes.json', '--force'], capsys)
    assert 'lies inside' in error and 'an input of this command' in error
    assert tree(tmp_path) == before


@pytest.mark.parametrize('variable, argv, said', [
    ('REALNET_THINGS_EEG2', ['score', '--model', 'cornet-s', '--json', 'DATA/new.json'],
     'DATA/new.json lies inside DATA, an input of this command'),
    ('REALNET_SHEN2019', ['compare', '--models', 'cornet-s', '--benchmarks', 'Gifford2022.IT-temporal_rsa', '--out',
                          'DATA', '-q'], 'DATA is also an input of this command'),
])
def test_an_output_in_a_data_folder_named_by_the_environment_is_refused(variable, argv, said, data, tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.setenv('REALNET_OFFLINE', '1')
    monkeypatch.setenv(variable, str(data))
    before = tree(tmp_path)
    error = refused([word.replace('DATA', str(data)) for word in argv], capsys)
    assert said.replace('DATA', str(data)) in error
    assert tree(tmp_path) == before


def test_score_plot_folder_inside_the_shen2019_folder_is_refused(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('REALNET_OFFLINE', '1')
    before = tree(tmp_path)
    error = refused(['score', '--model', 'cornet-s', '--shen2019', data, '--plot', data / 'figures'], capsys)
    assert 'an input of this command' in error
    assert tree(tmp_path) == before


def test_score_json_through_a_link_into_the_data_folder_is_refused(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('REALNET_OFFLINE', '1')
    (tmp_path / 'shortcut').symlink_to(data)
    before = tree(data)
    error = refused(['score', '--model', 'cornet-s', '--things-eeg2', data, '--json',
                     tmp_path / 'shortcut' / 'image_metadata.npy', '--force'], capsys)
    assert 'an input of this command' in error
    assert tree(data) == before


def test_score_json_onto_a_hard_link_of_the_weights_is_refused(tmp_path, capsys):
    weights = planted(tmp_path / 'mine.pt')
    os.link(weights, tmp_path / 'also-mine.json')
    before = tree(tmp_path)
    error = refused(['score', '--model', 'cornet-s', '--weights', weights, '--json', tmp_path / 'also-mine.json',
                     '--force'], capsys)
    assert 'is also an input of this command' in error
    assert tree(tmp_path) == before


def test_score_json_onto_the_cached_published_weights_is_refused(tmp_path, capsys, monkeypatch):
    from realnet_brainscore.weights import cached_path
    cached = cached_path('realnet-s01')
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b'published weights, as downloaded')
    error = refused(['score', '--model', 'realnet-s01', '--json', cached, '--force'], capsys)
    assert 'is also an input of this command' in error
    assert cached.read_bytes() == b'published weights, as downloaded'


def test_report_out_onto_a_hard_link_of_its_score_file_is_refused(tmp_path, capsys):
    from test_cli import temporal_record
    scores = tmp_path / 'a.json'
    scores.write_text(json.dumps(temporal_record()))
    os.link(scores, tmp_path / 'b.json')  # the same file under a second name: a figure there replaces it
    before = tree(tmp_path)
    error = refused(['report', '--scores', scores, '--out', tmp_path / 'b.json', '--force'], capsys)
    assert 'b.json is also an input of this command' in error
    assert tree(tmp_path) == before


def test_compare_out_inside_the_data_folder_is_refused(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('REALNET_OFFLINE', '1')
    before = tree(tmp_path)
    error = refused(['compare', '--models', 'cornet-s', '--benchmarks', 'Gifford2022.IT-temporal_rsa',
                     '--things-eeg2', data, '--out', data / 'report', '-q'], capsys)
    assert 'lies inside' in error and 'an input of this command' in error
    assert tree(tmp_path) == before


@pytest.mark.parametrize('where', ['report.md', 'scores/realnet-s01.json'])
def test_compare_never_writes_its_report_or_kept_scores_over_a_weights_file(where, tmp_path, capsys):
    out = tmp_path / 'out'
    (out / 'scores').mkdir(parents=True)  # an earlier comparison's folder: its files are replaced
    weights = planted(out / where)
    before = tree(tmp_path)
    error = refused(['compare', '--models', f'realnet-s01={weights}', '--benchmarks', 'Gifford2022.IT-temporal_rsa',
                     '--out', out, '-q'], capsys)
    assert f'{weights} is also an input of this command' in error
    assert tree(tmp_path) == before


def test_export_into_the_benchmark_plugins_it_copies_is_refused(tmp_path, capsys, monkeypatch):
    from realnet_brainscore import plugin
    plugins = tmp_path / 'plugins'
    shutil.copytree(plugin.plugins_dir(), plugins, ignore=shutil.ignore_patterns('__pycache__'))
    monkeypatch.setattr(plugin, 'plugins_dir', lambda: plugins)
    before = tree(tmp_path)
    error = refused(['submission', 'export', '--benchmarks', '--out', plugins / 'gifford2022_temporal_rsa' / 'x'],
                    capsys)
    assert 'an input of this command' in error
    assert tree(tmp_path) == before


@pytest.mark.parametrize('inner', ['out', 'shen2019'])
def test_synth_keeps_its_two_folders_apart(inner, tmp_path, capsys):
    outer = tmp_path / 'outer'
    folders = {'out': outer, 'shen2019': outer}
    folders[inner] = outer / 'inner'
    error = refused(['synth', '--out', folders['out'], '--shen2019', folders['shen2019'], '--subjects', '1',
                     '--concepts', '2', '--images-per-concept', '1', '--test-images', '2', '--image-size', '32'], capsys)
    assert 'lies inside' in error
    assert not outer.exists()


def test_train_refuses_a_run_folder_inside_the_data_folder(data, tmp_path, capsys):
    before = tree(tmp_path)
    error = refused(['train', '--things-eeg2', data, '--subject', '1', '--out', data / 'runs', '-q'], capsys)
    assert 'lies inside' in error and 'an input of this command' in error
    assert tree(tmp_path) == before


def test_train_refuses_out_onto_the_backbone_weights(data, tmp_path, capsys):
    weights = planted(tmp_path / 'start.pt')
    before = tree(tmp_path)
    error = refused(['train', '--things-eeg2', data, '--subject', '1', '--backbone-weights', weights,
                     '--out', weights, '-q'], capsys)
    assert f'lies inside {weights}, an input of this command' in error
    assert tree(tmp_path) == before


def test_train_refuses_backbone_weights_inside_the_run_folder(data, tmp_path, capsys):
    weights = planted(tmp_path / 'runs' / 'sub-01' / 'best.pt')  # what the run would write over
    before = tree(tmp_path)
    error = refused(['train', '--things-eeg2', data, '--subject', '1', '--backbone-weights', weights,
                     '--out', tmp_path / 'runs', '-q'], capsys)
    assert 'lies inside the run folder' in error
    assert tree(tmp_path) == before


def test_outside_inputs_is_the_one_rule(tmp_path):
    from realnet_brainscore.files import new_folder, outside_inputs
    (tmp_path / 'data').mkdir()
    assert outside_inputs(tmp_path / 'elsewhere', [None, tmp_path / 'data']) == tmp_path / 'elsewhere'
    with pytest.raises(RealnetError, match='lies inside'):
        new_folder(tmp_path / 'data' / 'new', inputs=[tmp_path / 'data'])
    assert not (tmp_path / 'data' / 'new').exists()
