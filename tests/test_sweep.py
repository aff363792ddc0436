"""`brainscore sweep`: a 2 x 2 grid of tiny runs (conftest's `small`: ResNet-18, 32 px, one epoch) in
this process (submitit's debug executor) and in local processes, a killed cell resumed through
submitit's checkpoint hook, the skip-finished rule, and the SLURM array script as sbatch would get it."""
import json
import os
import shutil
import sys

import pytest

from realnet_brainscore import cli

pytestmark = pytest.mark.slow  # trains networks (tiny ones)
BENCHMARK = 'Gifford2022.IT-temporal_rsa'
CELLS = ('subject-1_beta-1.0', 'subject-1_beta-100.0', 'subject-2_beta-1.0', 'subject-2_beta-100.0')


class Killed(BaseException):
    """A kill in the middle of a cell (BaseException: nothing of the cell's catches it, as with SIGKILL)."""


def sweep_file(path, small, grid='subject = [1, 2]\nbeta = [1.0, 100.0]', epochs=1, executor='name = "debug"'):
    path.write_text(f"""
[train]
things_eeg2 = "{small.things_eeg2}"
backbone = "resnet18"
backbone_weights = "{small.weights}"
image_size = {small.image_size}
epochs = {epochs}
workers = 1
quiet = true

[grid]
{grid}

[score]
benchmarks = ["{BENCHMARK}"]
rdm = "correlation"
screen = "whole"
bootstrap = 0
batch_size = 10

[executor]
{executor}
""")
    return path


@pytest.fixture(scope='module')
def swept(small, tmp_path_factory):
    """The 2 x 2 grid run once with the debug executor: (sweep file, its folder)."""
    folder = tmp_path_factory.mktemp('swept')
    path = sweep_file(folder / 'sweep.toml', small)
    assert cli.main(['sweep', 'run', str(path), '--out', str(folder / 'out')]) == 0
    return path, folder / 'out'


def cell_folders(out):
    return sorted((out / 'cells').iterdir())


def test_a_grid_runs_every_cell_and_scores_it(swept, capsys):
    _, out = swept
    assert [f.name.rsplit('-', 1)[0] for f in cell_folders(out)] == list(CELLS)
    for folder in cell_folders(out):
        status = json.loads((folder / 'status.json').read_text())
        assert status['state'] == 'done' and status['model'] == f'resnet18-eeg-s0{folder.name[8]}'
        assert -1 < status['results'][BENCHMARK]['score'] < 2
        assert set(status['transfer'][BENCHMARK]) == {'sub-01', 'sub-02'}  # the transfer matrix's row
        assert sorted(p.name for p in (folder / 'run').iterdir()) == [f'sub-0{folder.name[8]}']
    assert cli.main(['sweep', 'status', str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count(' done ') == 4 and printed.strip().endswith('4 cells: 4 done, 0 running, 0 failed, 0 pending')


def test_the_report_tabulates_every_cell_and_draws_the_transfer_matrix(swept, capsys):
    _, out = swept
    assert cli.main(['sweep', 'report', str(out)]) == 0
    report = out / 'report'
    assert {p.name for p in report.iterdir()} == {'scores.csv', 'scores.json', 'scores.png', 'transfer.csv',
                                                 'transfer.json', 'transfer.png'}
    rows = json.loads((report / 'scores.json').read_text())['rows']
    assert [(r['subject'], r['beta']) for r in rows] == [(1, 1.0), (1, 100.0), (2, 1.0), (2, 100.0)]
    assert all(r['backbone'] == 'resnet18' and r['image_size'] == 32 and r['score'] is not None for r in rows)
    by_setting = json.loads((report / 'scores.json').read_text())['by_setting']
    assert list(by_setting['beta'][BENCHMARK]) == ['1.0', '100.0']
    matrix = json.loads((report / 'transfer.json').read_text())['matrices'][BENCHMARK]
    assert matrix['subjects'] == ['sub-01', 'sub-02'] and len(matrix['rows']) == 4
    assert (report / 'transfer.csv').read_text().count('\n') == 1 + 8  # header, 4 models x 2 subjects
    assert cli.main(['sweep', 'report', str(out)]) == 0  # its own report is replaced
    mine = out / 'elsewhere'
    mine.mkdir()
    (mine / 'scores.csv').write_text('my own\n')
    assert cli.main(['sweep', 'report', str(out), '--out', str(mine)]) == 2
    assert 'is not of an earlier sweep report' in capsys.readouterr().err
    assert (mine / 'scores.csv').read_text() == 'my own\n'


def test_a_rerun_skips_finished_cells_and_retries_failed_ones_in_local_processes(swept, tmp_path, monkeypatch,
                                                                                 capsys):
    path, out = swept
    again = tmp_path / 'out'
    shutil.copytree(out, again)
    first, failed, *rest = cell_folders(again)
    written = {p: p.read_bytes() for folder in (first, *rest) for p in folder.rglob('*') if p.is_file()}
    # failed while scoring: its training finished (run/ stays), its scores are to be computed again
    (failed / 'status.json').write_text(json.dumps({'state': 'failed', 'error': 'out of memory', 'attempt': 1}))
    trained = (failed / 'run' / 'sub-01' / 'best.pt').read_bytes()
    shutil.rmtree(failed / 'scores')
    shutil.rmtree(failed / 'transfer')
    assert cli.main(['sweep', 'status', str(again)]) == 0
    assert f'{failed.name}  failed   out of memory' in capsys.readouterr().out
    # the local executor runs the failed cell in a process of its own (which must find this package)
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join(filter(None, [str(cli.__file__).rsplit('/realnet_brainscore', 1)[0],
                                                                    os.environ.get('PYTHONPATH')])))
    assert cli.main(['sweep', 'run', str(path), '--out', str(again), '--executor', 'local']) == 0
    printed = capsys.readouterr().out
    assert printed.count('left as it is') == 3 and f'{failed.name}: done' in printed
    status = json.loads((failed / 'status.json').read_text())
    assert status['state'] == 'done' and status['attempt'] == 2 and status['results'][BENCHMARK]['score']
    assert (failed / 'run' / 'sub-01' / 'best.pt').read_bytes() == trained  # not trained again
    assert all(p.read_bytes() == content for p, content in written.items())  # nothing a finished cell wrote


def test_a_killed_cell_resumes_from_its_last_checkpoint(small, tmp_path, monkeypatch, capsys):
    from realnet_brainscore import training
    from realnet_brainscore.sweep.cell import CellJob
    from realnet_brainscore.sweep.runner import run_sweep
    from realnet_brainscore.sweep.spec import load_sweep
    path = sweep_file(tmp_path / 'sweep.toml', small, grid='subject = [2]', epochs=2)
    out = tmp_path / 'out'
    train = training.train

    def killed_after_the_first_epoch(source, recipe, runtime, on_epoch_end=None):
        def kill(record):
            if record['epoch'] == 1:
                raise Killed
        return train(source, recipe, runtime, on_epoch_end=kill)
    monkeypatch.setattr(training, 'train', killed_after_the_first_epoch)
    with pytest.raises(Killed):
        run_sweep(path, out)
    monkeypatch.setattr(training, 'train', train)
    [folder] = cell_folders(out)
    log = (folder / 'run' / 'sub-02' / 'log.jsonl').read_text()
    assert cli.main(['sweep', 'status', str(out)]) == 0
    assert 'failed   stopped while running (killed, preempted' in capsys.readouterr().out
    # what submitit does on preemption: the job's checkpoint(), then the requeued job runs
    sweep = load_sweep(path)
    requeued = CellJob(folder, sweep.cells()[0], sweep.score, sweep.subjects()).checkpoint()
    assert requeued.result() == 'done'
    status = json.loads((folder / 'status.json').read_text())
    assert status['state'] == 'done' and status['attempt'] == 2 and status['requeued'] == 1
    resumed = (folder / 'run' / 'sub-02' / 'log.jsonl').read_text().splitlines()
    assert resumed[0] == log.strip() and [json.loads(line)['epoch'] for line in resumed] == [1, 2]


SLURM = """name = "slurm"
partition = "gpu"
gpus_per_node = 2
cpus_per_task = 8
mem_gb = 64
timeout_min = 120
array_parallelism = 2
setup = ["module load cuda/12.4"]"""


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """sbatch and srun as shell scripts: sbatch keeps the script it is given and answers with a job id."""
    bin = tmp_path / 'bin'
    bin.mkdir()
    (bin / 'srun').write_text('#!/bin/sh\nexit 0\n')
    (bin / 'sbatch').write_text(f'#!/bin/sh\ncp "$1" {tmp_path}/submitted.sh\necho "Submitted batch job 4242"\n')
    for tool in ('srun', 'sbatch'):
        (bin / tool).chmod(0o755)
    monkeypatch.setenv('PATH', f'{bin}{os.pathsep}{os.environ["PATH"]}')
    return tmp_path / 'submitted.sh'


def test_slurm_submits_one_array_with_the_executor_settings(small, fake_slurm, tmp_path, monkeypatch, capsys):
    path = sweep_file(tmp_path / 'sweep.toml', small, executor=SLURM)
    assert cli.main(['sweep', 'run', str(path), '--out', str(tmp_path / 'out')]) == 0
    assert capsys.readouterr().out.count('submitted (SLURM job 4242_') == 4
    script = fake_slurm.read_text()
    for line in ('#SBATCH --array=0-3%2', '#SBATCH --partition=gpu', '#SBATCH --gpus-per-node=2',
                 '#SBATCH --cpus-per-task=8', '#SBATCH --mem=64GB', '#SBATCH --time=120', '#SBATCH --signal=USR2@90',
                 '#SBATCH --job-name=brainscore-sweep', 'module load cuda/12.4',
                 f'-m submitit.core._submit {tmp_path / "out" / "jobs"}'):
        assert line in script, line
    assert script.index('module load') < script.index('srun --unbuffered')
    # each array task's job: a cell trained under torchrun with the task's two GPUs
    import cloudpickle
    from realnet_brainscore.sweep import cell
    pickles = sorted((tmp_path / 'out' / 'jobs').glob('4242_*_submitted.pkl'))
    job = cloudpickle.loads(pickles[0].read_bytes()).function
    assert len(pickles) == 4 and job.gpus == 2
    ran = []

    def torchrun(command, **_):
        ran.append(command)
        return __import__('subprocess').CompletedProcess(command, 2, '', 'brainscore: error: no GPU here\n')
    monkeypatch.setattr(cell.subprocess, 'run', torchrun)
    assert job() == 'failed'
    assert ran[0][:5] == [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2']
    assert ran[0][5:9] == ['-m', 'realnet_brainscore.cli', 'train', '--things-eeg2']
    assert ran[0][-3:] == ['--out', str(job.folder / 'run'), '--resume']
    assert json.loads((job.folder / 'status.json').read_text())['error'] == 'no GPU here'


@pytest.mark.parametrize('change, problem', [
    (('image_size = 32', 'imag_size = 32'), r'\[train\] imag_size: not an option of brainscore train; did you mean image_size\?'),
    (('workers = 1', 'out = "x"'), r'\[train\] out: not in a sweep \(the sweep gives each cell its own run folder'),
    (('beta = [1.0, 100.0]', 'beta = 1.0'), r'\[grid\] beta: expected a list of values'),
    (('beta = [1.0, 100.0]', 'beta = ["high"]'), r"cell subject-1_beta-high-\w+: brainscore train refuses .*--beta: invalid float value: 'high'"),
    (('image_size = 32', 'image_size = 32\nbeta = 2.0'), r'\[grid\] beta: beta is given twice'),
    (('rdm = "correlation"', 'rdm = "pearson"'), r'\[score\]: .*pearson'),
    (('name = "debug"', 'name = "local"\npartition = "gpu"'), r'\[executor\] partition: not a setting of the local executor'),
    (('[executor]', '[executors]'), r'unknown table \[executors\]'),
])
def test_a_bad_sweep_file_is_one_line_naming_the_key(change, problem, small, tmp_path, capsys):
    path = sweep_file(tmp_path / 'sweep.toml', small)
    path.write_text(path.read_text().replace(*change))
    assert cli.main(['sweep', 'run', str(path), '--out', str(tmp_path / 'out')]) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and str(path) in error
    import re
    assert re.search(problem, error), error
    assert not (tmp_path / 'out').exists()


def test_another_sweep_into_the_same_folder_is_refused(swept, small, tmp_path, capsys):
    _, out = swept
    other = sweep_file(tmp_path / 'other.toml', small, grid='subject = [1, 2]\nbeta = [1.0, 10.0]')
    assert cli.main(['sweep', 'run', str(other), '--out', str(out)]) == 2
    assert 'holds another sweep' in capsys.readouterr().err
    assert cli.main(['sweep', 'status', str(tmp_path)]) == 2
    assert 'not a sweep folder' in capsys.readouterr().err
