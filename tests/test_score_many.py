"""`brainscore score --models … --out DIR`: many checkpoints (files, folders of runs) scored once each,
kept as `brainscore compare` keeps them, equal to `score --model … --weights FILE`, and a table."""
import csv
import json

import pytest
import torch

from factories import SIZE
from realnet_brainscore import cli
from realnet_brainscore.backbones import create, describe
from realnet_brainscore.checkpoint import write_checkpoint
from realnet_brainscore.score_store import Candidate, candidates

BENCHMARK = 'Gifford2022.IT-temporal_rsa'
BACKBONE = 'squeezenet1_1'
S01, S02 = 'squeezenet1_1-eeg-s01', 'squeezenet1_1-eeg-s02'  # the names the runs give themselves


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """A tiny in-silico release (2 subjects, 6 test images) and a folder of runs as `brainscore train
    --out` leaves it: sub-01/best.pt and sub-02/best.pt, and sub-03 with last.pt only (no epoch was
    best: not a run to score). SqueezeNet 1.1 backbones (random, 64 px): 5 MB files, not CORnet-S's 200."""
    from realnet_brainscore.synthetic import Design, write_things_eeg2
    root = tmp_path_factory.mktemp('score-many')
    release = write_things_eeg2(root / 'things', Design(subjects=2, concepts=2, images_per_concept=1, test_images=6,
                                                        test_repetitions=8, image_size=16))
    for subject in (1, 2, 3):
        torch.manual_seed(subject)
        backbone = create(BACKBONE)
        spec = describe(BACKBONE, backbone, SIZE, layers=('features.2', 'features.5', 'features.8', 'features.12'))
        meta = {'subject': subject, 'modality': 'EEG', 'backbone': spec.to_meta(), 'config': {'image_size': SIZE}}
        name = 'last.pt' if subject == 3 else 'best.pt'
        write_checkpoint(root / 'runs' / f'sub-{subject:02d}' / name, backbone.state_dict(), None, meta)
    return release, root / 'runs'


def main(argv) -> int:
    """The exit status of the command, argparse's refusals (SystemExit) included."""
    try:
        return cli.main(argv)
    except SystemExit as exit:
        return exit.code


def options(release, out=None):
    return ['--benchmark', BENCHMARK, '--things-eeg2', str(release), '--rdm', 'correlation', '--bootstrap', '0',
            '--batch-size', '6', '-q', *(['--out', str(out)] if out else [])]


def test_a_folder_of_runs_gives_every_run_under_its_own_name(runs):
    _, folder = runs
    assert candidates([str(folder)]) == [Candidate(S01, folder / 'sub-01' / 'best.pt'),
                                         Candidate(S02, folder / 'sub-02' / 'best.pt')]
    assert candidates([str(folder / 'sub-02')]) == [Candidate(S02, folder / 'sub-02' / 'best.pt')]
    labelled = candidates([f'mine={folder / "sub-01" / "best.pt"}', 'cornet-s'])
    assert labelled == [Candidate('mine', folder / 'sub-01' / 'best.pt', S01), Candidate('cornet-s')]
    assert labelled[0].identifier.startswith(f'{S01}+')


def test_many_checkpoints_are_scored_once_each_as_score_scores_one(runs, tmp_path, monkeypatch, capsys):
    release, folder = runs
    out = tmp_path / 'out'
    argv = ['score', '--models', str(folder), f'mine={folder / "sub-01" / "best.pt"}', *options(release, out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    scored = [line for line in printed if BENCHMARK in line]
    assert [line.split()[0] for line in scored] == [S01, S02, 'mine']
    assert not any('(kept)' in line for line in scored)
    with open(out / 'score_table.csv', newline='') as stream:
        table = list(csv.DictReader(stream))
    assert [(row['model'], row['benchmark'], row['unavailable']) for row in table] == [
        (S01, BENCHMARK, ''), (S02, BENCHMARK, ''), ('mine', BENCHMARK, '')]
    rows = json.loads((out / 'score_table.json').read_text())
    assert rows[0]['weights'] == rows[2]['weights'] == str((folder / 'sub-01' / 'best.pt').resolve())
    assert rows[0]['identifier'] == rows[2]['identifier'] and rows[0]['identifier'].startswith(f'{S01}+')
    assert rows[0]['score'] == rows[2]['score'] != rows[1]['score']  # the same weights under two names
    assert all(isinstance(row[key], float) for row in rows for key in ('score', 'raw', 'ceiling'))
    assert [float(row['score']) for row in table] == [row['score'] for row in rows]
    assert sorted(p.name for p in (out / 'scores').iterdir()) == ['mine.json', f'{S01}.json', f'{S02}.json']

    # each equals `score --model NAME --weights FILE` on the same benchmark
    for row, name in zip(rows, (S01, S02)):
        single = tmp_path / f'{name}.json'
        assert cli.main(['score', '--model', name, '--weights', row['weights'], *options(release),
                         '--json', str(single)]) == 0
        assert json.loads(single.read_text())['score'] == row['score']
    capsys.readouterr()

    # a second run scores nothing: no model is even loaded
    def refuse(*args, **kwargs):
        raise AssertionError('a kept score was scored again')

    monkeypatch.setattr('realnet_brainscore.models.load_model', refuse)
    assert cli.main(argv) == 0
    again = capsys.readouterr().out
    assert again.count('1 scores kept') == 3 and again.count(f'{BENCHMARK}') == 3 and again.count('(kept)') == 3
    assert json.loads((out / 'score_table.json').read_text()) == rows


def plain_file(folder):
    """A state dict that names no model (not a checkpoint of `brainscore train`)."""
    path = folder / 'plain.pth'
    torch.save(create(BACKBONE).state_dict(), path)
    return path


@pytest.mark.parametrize('arguments, message', [
    (lambda runs, tmp: ['--models', f'{runs}/sub-01/best.pt', f'{S01}={runs}/sub-01/best.pt'],
     f'each model once, please: {S01} is given twice'),
    (lambda runs, tmp: ['--models', f'{tmp}/missing/best.pt'], 'missing/best.pt: no such weights file'),
    (lambda runs, tmp: ['--models', f'x={tmp}/missing.pt'], 'missing.pt: no such weights file (given for x)'),
    (lambda runs, tmp: ['--models', str(tmp)], ': no runs in it (no best.pt in it or in its sub-folders'),
    (lambda runs, tmp: ['--models', f'{tmp}/typo'], 'typo a file or a folder of runs: no such path)'),
    (lambda runs, tmp: ['--models', f'my run={runs}/sub-01/best.pt'], "model name 'my run' is not allowed"),
    (lambda runs, tmp: ['--models', f'{S02}={runs}/sub-01/best.pt'],
     f'holds {S01}; load it as {S01}, not {S02}'),
    (lambda runs, tmp: ['--models', str(plain_file(tmp))], 'plain.pth gives itself no model name'),
    (lambda runs, tmp: ['--models', 'cornet-s', '--weights', f'{runs}/sub-01/best.pt'],
     '--weights goes with --model, not --models (give a checkpoint as NAME=FILE in --models)'),
    (lambda runs, tmp: ['--models', 'cornet-s', '--json', f'{tmp}/s.json'], '--json goes with --model, not --models'),
    (lambda runs, tmp: ['--model', 'cornet-s', '--models', 'cornet-s'], 'not allowed with argument'),
    (lambda runs, tmp: ['--model', 'cornet-s', '--out', f'{tmp}/out'], '--out goes with --models'),
])
def test_bad_models_are_one_line_before_any_work(arguments, message, runs, tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError('a model was loaded')

    monkeypatch.setattr('realnet_brainscore.models.load_model', refuse)
    argv = ['score', *arguments(runs[1], tmp_path), '--benchmark', BENCHMARK, '-q']
    if '--out' not in argv and '--model' not in argv:
        argv += ['--out', str(tmp_path / 'out')]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and message in error, error
    assert not (tmp_path / 'out').exists()


def test_models_need_an_out_folder(capsys):
    assert cli.main(['score', '--models', 'cornet-s', '-q']) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and '--models needs --out DIR' in error
