"""One writer and one reader of checkpoint files: round trip, format tag, published layouts, resume."""
import pickle

import pytest
import torch

from realnet_brainscore import RealnetError, load_network
from realnet_brainscore.checkpoint import FORMAT, Checkpoint, read_checkpoint, recorded_image_size, split_state_dict, write_checkpoint
from realnet_brainscore.training import Recipe, Runtime, Source, train
from realnet_brainscore.training.checkpointing import read_last


def _tiny():
    """(backbone, head) state dicts with CORnet-S and head key names: a few small tensors, not a network."""
    generator = torch.Generator().manual_seed(0)
    backbone = {'V1.conv1.weight': torch.randn(4, 3, 2, 2, generator=generator),
                'V1.norm1.num_batches_tracked': torch.tensor(7), 'IT.conv1.weight': torch.randn(2, 4, 1, 1, generator=generator)}
    head = {'fc_v1.weight': torch.randn(5, 4, generator=generator), 'fc.bias': torch.randn(5, generator=generator)}
    return backbone, head


def _assert_same(read: dict, written: dict):
    assert list(read) == list(written)
    for key, tensor in written.items():
        torch.testing.assert_close(read[key], tensor, rtol=0, atol=0, msg=key)


def test_a_written_checkpoint_reads_back_the_same_tensors_meta_and_extras(tmp_path):
    backbone, head = _tiny()
    path = tmp_path / 'run' / 'best.pt'
    eeg_mean, optimizer = torch.tensor([0.5]), {'state': {}, 'param_groups': [{'lr': 2e-5, 'params': [0]}]}
    write_checkpoint(path, backbone, head, meta={'epoch': 3, 'config': {'image_size': 64}},
                     eeg_mean=eeg_mean, optimizer=optimizer, best_val_loss=0.25)
    checkpoint = read_checkpoint(path)
    # the published ReAlnet layout: prefixed backbone keys, then the head's
    assert list(checkpoint.state_dict) == [f'realnet.module.{key}' for key in backbone] + list(head)
    read_backbone, read_head = split_state_dict(checkpoint.state_dict)
    _assert_same(read_backbone, backbone)
    _assert_same(read_head, head)
    assert checkpoint.meta == {'format': FORMAT, 'epoch': 3, 'config': {'image_size': 64}}
    assert list(checkpoint.meta)[0] == 'format'
    assert list(checkpoint.extras) == ['eeg_mean', 'optimizer', 'best_val_loss']
    torch.testing.assert_close(checkpoint.extras['eeg_mean'], eeg_mean, rtol=0, atol=0)
    assert checkpoint.extras['optimizer'] == optimizer and checkpoint.extras['best_val_loss'] == 0.25
    assert [p.name for p in path.parent.iterdir()] == ['best.pt']  # written atomically: no partial file left
    _assert_same(checkpoint.state_dict, {**{f'realnet.module.{key}': value for key, value in backbone.items()}, **head})


def test_the_writer_always_writes_its_own_format_tag(tmp_path):
    path = tmp_path / 'baseline.pth'
    write_checkpoint(path, _tiny()[0], meta={'format': 'someone-else/9', 'config': {'image_size': 32}})
    checkpoint = read_checkpoint(path)
    assert checkpoint.meta == {'format': FORMAT, 'config': {'image_size': 32}} and checkpoint.extras == {}
    assert split_state_dict(checkpoint.state_dict)[1] == {}  # backbone only: no head


@pytest.mark.parametrize('tag, shown', [('realnet-brainscore/2', "'realnet-brainscore/2'"), (2, 'of type int')])
def test_another_format_tag_is_refused_in_one_line(tmp_path, tag, shown):
    path = tmp_path / 'other.pt'
    torch.save({'state_dict': _tiny()[0], 'meta': {'format': tag, 'config': {'image_size': 64}}}, path)
    for read in (read_checkpoint, lambda file: load_network('cornet-s', weights=file)):
        with pytest.raises(RealnetError) as error:
            read(path)
        message = str(error.value)
        assert message.startswith(f"{path}: checkpoint format {shown}, not '{FORMAT}'"), message
        assert '\n' not in message


def test_files_without_our_meta_are_read_as_before(tmp_path):
    """The published ReAlnet files (a bare state dict), dicarlolab's CORnet-S file (bookkeeping, no
    meta) and checkpoints written before the format tag (meta without one)."""
    backbone, head = _tiny()
    files = {
        'ReAlnet01_best_model_params.pt': {**{f'realnet.module.{k}': v for k, v in backbone.items()}, **head},
        'cornet_s-1d3f7974.pth': {'epoch': 43, 'state_dict': {f'module.{k}': v for k, v in backbone.items()},
                                  'optimizer': {'state': {}}},
        'untagged.pth': {'state_dict': {f'module.{k}': v for k, v in backbone.items()},
                         'meta': {'config': {'image_size': 64}}},
    }
    for name, content in files.items():
        torch.save(content, tmp_path / name)
    published = read_checkpoint(tmp_path / 'ReAlnet01_best_model_params.pt')
    assert published.meta == {} and published.extras == {}
    dicarlolab = read_checkpoint(tmp_path / 'cornet_s-1d3f7974.pth')
    assert dicarlolab.meta == {} and dicarlolab.extras == {'epoch': 43, 'optimizer': {'state': {}}}
    untagged = read_checkpoint(tmp_path / 'untagged.pth')
    assert untagged.meta == {'config': {'image_size': 64}} and untagged.extras == {}
    for checkpoint, expected_head in ((published, head), (dicarlolab, {}), (untagged, {})):
        read_backbone, read_head = split_state_dict(checkpoint.state_dict)
        _assert_same(read_backbone, backbone)
        _assert_same(read_head, expected_head)


class Gadget:
    """Not a tensor: weights-only loading must refuse to rebuild it."""


@pytest.mark.parametrize('write, message', [
    (lambda path: path.write_bytes(pickle.dumps({'V1.conv1.weight': Gadget()})), 'refused: it holds Python objects'),
    (lambda path: torch.save({'state_dict': Gadget()}, path), 'refused: it holds Python objects'),
    (lambda path: torch.save([torch.zeros(1)], path), 'not a state dict .*found list'),
    (lambda path: torch.save({'V1.conv1.weight': torch.zeros(1), 'note': 'hi'}, path), 'not a state dict'),
    (lambda path: torch.save({'state_dict': {}, 'meta': {'format': FORMAT}}, path), 'not a state dict .*empty one'),
    (lambda path: path.write_text('not a checkpoint'), 'not a PyTorch checkpoint, or a truncated one'),
    (lambda path: None, 'no such file'),
])
def test_files_that_are_not_state_dicts_are_refused(tmp_path, write, message):
    path = tmp_path / 'odd.pt'
    write(path)
    with pytest.raises(RealnetError, match=message) as error:
        read_checkpoint(path)
    assert str(error.value).startswith(f'{path}: ') and '\n' not in str(error.value)


@pytest.mark.parametrize('meta, expected', [({}, 224), ({'config': {'recipe': 'paper'}}, 224),
                                            ({'config': {'image_size': 64}}, 64), ({'config': 'x'}, None),
                                            ({'config': {'image_size': 'abc'}}, None), ({'config': {'image_size': -3}}, None),
                                            ({'config': {'image_size': True}}, None)])
def test_the_recorded_image_size_is_a_positive_whole_number_or_refused(meta, expected):
    checkpoint = Checkpoint({'w': torch.zeros(1)}, meta, {})
    if expected is not None:
        assert recorded_image_size(checkpoint, 'run.pt', 224) == expected
        return
    with pytest.raises(RealnetError, match=r'^run.pt: its meta records no usable image size'):
        recorded_image_size(checkpoint, 'run.pt', 224)


def _a_run(folder, last: dict):
    """A run folder whose last.pt holds ``last``."""
    folder.mkdir(parents=True)
    torch.save(last, folder / 'last.pt')
    write_checkpoint(folder / 'best.pt', _tiny()[0], meta={'epoch': 1})
    (folder / 'log.jsonl').write_text('{"epoch": 1, "val_loss": 1.0}\n')


def test_resume_reads_last_pt_through_the_checker(tmp_path):
    """A last.pt with a foreign tag is refused before any data is read (there is none here)."""
    folder = tmp_path / 'runs' / 'sub-01'
    meta = {'format': 'realnet-brainscore/0', 'epoch': 1, 'config': {}, 'data_fingerprint': 'f'}
    _a_run(folder, {'state_dict': _tiny()[0], 'meta': meta, 'optimizer': {}, 'best_val_loss': 1.0})
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    runtime = Runtime(out=tmp_path / 'runs', resume=True, cache_dir=tmp_path / 'cache', progress=False)
    with pytest.raises(RealnetError) as error:
        train(Source(things_eeg2=tmp_path / 'no-data', subject=1), Recipe(), runtime)
    assert str(error.value) == (f"{folder / 'last.pt'}: checkpoint format 'realnet-brainscore/0', not '{FORMAT}': "
                                'written by another version of realnet-brainscore or another program; it cannot '
                                'be resumed from: move it away or choose another `out`')
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_resume_accepts_what_the_writer_wrote_and_nothing_less(tmp_path):
    path = tmp_path / 'last.pt'
    meta = {'epoch': 2, 'config': {'lr': 2e-5}, 'data_fingerprint': 'f'}
    write_checkpoint(path, *_tiny(), meta=meta, optimizer={'state': {}}, best_val_loss=0.5)
    checkpoint = read_last(path)
    assert checkpoint.meta == {'format': FORMAT, **meta} and checkpoint.extras['best_val_loss'] == 0.5
    for extras in ({}, {'optimizer': {'state': {}}, 'best_val_loss': None}):  # a best.pt: no optimiser state
        write_checkpoint(path, *_tiny(), meta=meta, **extras)
        with pytest.raises(RealnetError, match=f'^{path}: not a last.pt written by brainscore train; it cannot be '
                                               'resumed from'):
            read_last(path)
