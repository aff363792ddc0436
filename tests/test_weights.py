import functools
import http.server
import threading

import pytest
import torch

from factories import random_cornet, sha, write_dicarlolab_checkpoint, write_realnet_checkpoint
from realnet_brainscore import RealnetError, load_network
from realnet_brainscore.weights import (WEIGHTS, WeightSource, cached_path, import_file, resolve, status,
                                        weights_dir)
from realnet_brainscore.encoder import EncodingHead, ReAlnet


def _outputs(network: ReAlnet, x):
    with torch.no_grad():
        return network.eval()(x)


def test_dicarlolab_checkpoint_loads_strictly_and_computes_the_same(tmp_path):
    original = random_cornet(seed=10)
    path = tmp_path / 'cornet_s.pth'
    write_dicarlolab_checkpoint(path, original)
    network = load_network('cornet-s', weights=path)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(network.backbone(x), original(x), rtol=0, atol=0)
    assert network.head is None
    assert network.identifier == f'cornet-s+{sha(path, "sha256")[:8]}'


def test_published_realnet_checkpoint_loads_strictly_and_computes_the_same(tmp_path):
    backbone = random_cornet(seed=11)
    torch.manual_seed(11)
    head = EncodingHead.for_backbone(backbone, 64, 340)
    path = tmp_path / 'ReAlnet01_best_model_params.pt'
    write_realnet_checkpoint(path, backbone, head)
    network = load_network('realnet-s01', weights=path)
    x = torch.randn(2, 3, 64, 64)
    expected_logits, expected_eeg = _outputs(ReAlnet(backbone, head), x)
    logits, eeg = _outputs(ReAlnet(network.backbone, network.head), x)
    torch.testing.assert_close(logits, expected_logits, rtol=0, atol=0)
    torch.testing.assert_close(eeg, expected_eeg, rtol=0, atol=0)


@pytest.mark.parametrize('damage, message', [
    (lambda state: state.pop('module.V4.norm2_3.running_var'), r'1 missing \(V4.norm2_3.running_var\)'),
    (lambda state: state.update({'module.V5.conv.weight': torch.zeros(1)}), r'1 unexpected \(V5.conv.weight\)'),
    (lambda state: state.update({'module.IT.conv1.weight': torch.zeros(3, 3, 1, 1)}), 'size mismatch for IT.conv1.weight'),
])
def test_checkpoints_that_do_not_fit_are_refused_with_one_line(tmp_path, damage, message):
    path = tmp_path / 'damaged.pth'
    state = {f'module.{key}': value for key, value in random_cornet(seed=12).state_dict().items()}
    damage(state)
    torch.save({'state_dict': state}, path)
    with pytest.raises(RealnetError, match=message) as error:
        load_network('cornet-s', weights=path)
    assert '\n' not in str(error.value)


def test_a_head_that_does_not_fit_is_refused(tmp_path):
    backbone = random_cornet(seed=13)
    state = {f'realnet.module.{key}': value for key, value in backbone.state_dict().items()}
    state.update({key: value for key, value in EncodingHead.for_backbone(backbone, 64, 340).state_dict().items()
                  if not key.startswith('fc.')})
    torch.save(state, tmp_path / 'no_fc.pt')
    with pytest.raises(RealnetError, match="encoding head does not load: encoding head is missing 'fc.weight'"):
        load_network('realnet-s02', weights=tmp_path / 'no_fc.pt')


def test_a_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / 'whole.pth'
    write_dicarlolab_checkpoint(path, random_cornet(seed=14))
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(RealnetError, match='not a PyTorch checkpoint, or a truncated one'):
        load_network('cornet-s', weights=truncated)


@pytest.fixture(scope='module')
def published_file(tmp_path_factory):
    """A published ReAlnet file, written once for the tests below (which only read it)."""
    path = tmp_path_factory.mktemp('release') / 'ReAlnet99_best_model_params.pt'
    backbone = random_cornet(seed=15)
    write_realnet_checkpoint(path, backbone, EncodingHead.for_backbone(backbone, 64, 340))
    return path, sha(path)


@pytest.fixture
def published(published_file, monkeypatch):
    """A weights table entry whose published file is one the tests wrote (its URL is set per test)."""
    path, digest = published_file
    source = WeightSource('realnet-s99', 'http://127.0.0.1:9/ReAlnet99_best_model_params.pt', 'sha1', digest,
                          'test subject')
    monkeypatch.setitem(WEIGHTS, source.identifier, source)
    return source, path


def _cache_files():
    folder = weights_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_import_verifies_and_places_the_file(published):
    source, path = published
    assert status(source.identifier) == 'missing'
    placed = import_file(source.identifier, path)
    assert placed == cached_path(source.identifier) and placed.read_bytes() == path.read_bytes()
    assert status(source.identifier) == 'verified'
    network = load_network(source.identifier)  # resolves from the cache, no download
    assert network.identifier == source.identifier and network.head is not None


def test_import_refuses_a_wrong_or_truncated_file_and_leaves_nothing(published, tmp_path):
    source, path = published
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(RealnetError, match=f'expected {source.digest} for realnet-s99: wrong or damaged file'):
        import_file(source.identifier, truncated)
    assert _cache_files() == []


def test_a_damaged_cached_file_is_reported(published):
    source, path = published
    import_file(source.identifier, path)
    cached = cached_path(source.identifier)
    cached.write_bytes(cached.read_bytes()[:1000])
    assert status(source.identifier) == 'hash mismatch'
    with pytest.raises(RealnetError, match='fails its hash check and could not be fetched'):
        resolve(source.identifier, progress=False)


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over a folder; records the paths it was asked for."""
    root = tmp_path / 'served'
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f'http://127.0.0.1:{httpd.server_address[1]}', requests
    httpd.shutdown()
    httpd.server_close()


def _serve(monkeypatch, source, url):
    moved = WeightSource(source.identifier, url, source.algorithm, source.digest, source.description)
    monkeypatch.setitem(WEIGHTS, source.identifier, moved)


def test_download_verifies_and_moves_into_place(published, server, monkeypatch):
    source, path = published
    root, base, requests = server
    (root / path.name).write_bytes(path.read_bytes())
    _serve(monkeypatch, source, f'{base}/{path.name}?versionId=abc')
    resolved = resolve(source.identifier, progress=False)
    assert resolved.read_bytes() == path.read_bytes() and _cache_files() == [path.name]
    assert requests == [f'/{path.name}?versionId=abc']
    resolve(source.identifier, progress=False)
    assert len(requests) == 1  # verified cache: no second download


def test_a_download_with_the_wrong_hash_is_not_kept(published, server, monkeypatch):
    source, path = published
    root, base, _ = server
    (root / path.name).write_bytes(path.read_bytes()[:-1] + b'x')
    _serve(monkeypatch, source, f'{base}/{path.name}')
    with pytest.raises(RealnetError, match='wrong or damaged file') as error:
        resolve(source.identifier, progress=False)
    assert str(cached_path(source.identifier)) in str(error.value)
    assert _cache_files() == []


def test_unreachable_url_names_url_hash_and_path(published, server, monkeypatch):
    source, path = published
    root, base, _ = server
    _serve(monkeypatch, source, f'{base}/absent.pt')  # 404
    with pytest.raises(RealnetError) as error:
        resolve(source.identifier, progress=False)
    message = str(error.value)
    for part in (f'{base}/absent.pt', source.digest, str(cached_path(source.identifier)),
                 'brainscore weights import realnet-s99 FILE'):
        assert part in message
    assert '\n' not in message and _cache_files() == []


def test_offline_mode_makes_no_request(published, server, monkeypatch):
    source, path = published
    root, base, requests = server
    (root / path.name).write_bytes(path.read_bytes())
    _serve(monkeypatch, source, f'{base}/{path.name}')
    monkeypatch.setenv('REALNET_OFFLINE', '1')
    with pytest.raises(RealnetError, match='downloads are disabled'):
        resolve(source.identifier, progress=False)
    assert requests == []


def test_the_table_holds_every_published_file():
    assert list(WEIGHTS) == ['cornet-s'] + [f'realnet-s{n:02d}' for n in range(1, 11)]
    assert WEIGHTS['cornet-s'].filename == 'cornet_s-1d3f7974.pth'
    s07 = WEIGHTS['realnet-s07']
    assert s07.filename == 'ReAlnet07_best_model_params.pt' and s07.url.endswith('versionId=WKJaiN4b1ttpbGYNn8yVjng4LjCqWdk.')
    assert s07.algorithm == 'sha1' and s07.digest == '6a1c260839c75f6e6c018e06830562cdcda877e5'


def test_unknown_identifier():
    with pytest.raises(RealnetError, match="unknown model 'realnet-s11'; known: cornet-s, realnet-s01"):
        load_network('realnet-s11')
