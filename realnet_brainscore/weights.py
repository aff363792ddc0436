"""Where each model's weights come from, and the local cache.

One table maps an identifier to its published file (URL and hash). Files are cached in
``$REALNET_HOME/weights`` (default ``~/.realnet/weights``), verified against the hash on every
use and downloaded atomically; ``checkpoint.py`` reads them.
"""
import ipaddress
import os
import shutil
import stat
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tqdm.auto import tqdm

from .errors import RealnetError
from .files import atomic_path, file_digest, regular_file
from .identifiers import CORNET, personal_name, with_digest


# A weights URL is written into a plugin the website runs and fetched from there: no browser-sized
# address (S3 links with a version id are under 300 characters) and no plain http, which anyone on
# the way could answer (the hash is checked, but a swapped file still costs a download).
MAX_URL_CHARS = 2048
MAX_FILENAME_CHARS = 200  # the download is cached as <algorithm>-<digest>-<file name>, under the 255 a file system takes


def checked_url(url) -> str:
    """``url`` once it is shown to be an https address of at most MAX_URL_CHARS characters with a
    host, no user name or password, no whitespace or control characters; http only for a loopback
    host (a test's local server)."""
    from .errors import printable
    shown = printable(repr(url))[:200]
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        raise RealnetError(f'weights URL {shown} is not allowed: at most {MAX_URL_CHARS} characters')
    if any(character.isspace() or not character.isprintable() for character in url):
        raise RealnetError(f'weights URL {shown} holds whitespace or control characters; percent-encode them')
    try:
        parts = urlparse(url)
        host, _ = parts.hostname, parts.port  # port raises ValueError when it is not a number in range
    except ValueError as error:
        raise RealnetError(f'weights URL {shown} is not a valid URL ({error})') from error
    if parts.username is not None or parts.password is not None:  # not echoed: it may be a secret
        raise RealnetError(f'weights URL {parts.scheme}://…@{printable(host or "")}/… holds a user name or password; '
                           'the plugin would publish it')
    if not host or parts.scheme not in ('https', 'http') or (parts.scheme == 'http' and not _loopback(host)):
        raise RealnetError(f'weights URL {shown} is not allowed: use an https:// address')
    if not 0 < len(parts.path.rsplit('/', 1)[-1]) <= MAX_FILENAME_CHARS:  # the cached file is named by it
        raise RealnetError(f'weights URL {shown} must end in a file name of 1 to {MAX_FILENAME_CHARS} characters')
    return url


def _loopback(host: str) -> bool:
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WeightSource:
    identifier: str
    url: str
    algorithm: str  # hashlib name
    digest: str     # hex; a prefix is allowed (torch.hub names files by sha256[:8])
    description: str

    def __post_init__(self):
        checked_url(self.url)

    @property
    def filename(self) -> str:
        return urlparse(self.url).path.rsplit('/', 1)[-1]

    def matches(self, path) -> bool:
        return file_digest(path, self.algorithm).startswith(self.digest)


_REALNET_URL = ('https://brainscore-storage.s3.us-east-2.amazonaws.com/brainscore-vision/models/'
                'ReAlnet/ReAlnet{subject:02d}_best_model_params.pt?versionId={version}')

# Subject, S3 version id, sha1: Brain-Score's models/ReAlnet/weights.json (docs/weights.md#published-realnet-weights).
_REALNET_RELEASES = [
    (1, '75oY3CnI17U5S1f_yrZxl1XGhRfJEG9N', '05e4e401e8734b97e561aad306fc584b7e027225'),
    (2, 'TfGdm1CphJJ1vvkJGcm3n266PHvTuOaV', 'e85769fadb3c09ff88a7d73b01451b6bcccefd77'),
    (3, 'dmohrH_AHZzgL_o8Xd2SDp6XCnjPOdAu', 'f32d01d73380374ae501a1504e9c8cd219e9f0bf'),
    (4, '45qJFXHihmIHdpHbjKWZco6STH1eh49p', '8062373fd6a74c52360420619235590d3688b4df'),
    (5, 'nqvoYgiBTyWSskjnpF9YOK4yYQfOnc_H', '88ca110f6b6d225b7b4e7dca02d2e7a906f5a8ed'),
    (6, '6.cloFvnMihiicwQ0jkag8reEe4bVlxZ', 'a1658c15a3c9d61262f87349c9fb7aa63854ac5b'),
    (7, 'WKJaiN4b1ttpbGYNn8yVjng4LjCqWdk.', '6a1c260839c75f6e6c018e06830562cdcda877e5'),
    (8, 'vmouew6ePkPnKP.We8VnVxU7TifuhL.x', '1772211b27dd3a7d9255ac59d5f9b7e7cb6c3314'),
    (9, '53gqQ2tgS.5MEoncipy9mrBEqCc5izw5', '159d96f0433a87c7063259dac4527325a3c7b79a'),
    (10, 'ZZFMhTm9KQYEXl8OGwKmnTr0S.pxkU0J', 'dbdeaee9280267613ebce92dd5d515d89b544352'),
]

WEIGHTS: dict[str, WeightSource] = {
    CORNET: WeightSource(
        CORNET, 'https://s3.amazonaws.com/cornet-models/cornet_s-1d3f7974.pth', 'sha256', '1d3f7974',
        'CORnet-S trained on ImageNet (dicarlolab release): the unaligned baseline'),
    **{personal_name(subject): WeightSource(
        personal_name(subject), _REALNET_URL.format(subject=subject, version=version), 'sha1', sha1,
        f'ReAlnet aligned to THINGS-EEG2 subject {subject} (Lu, Wang & Golomb)')
       for subject, version, sha1 in _REALNET_RELEASES},
}


def source(identifier: str) -> WeightSource:
    try:
        return WEIGHTS[identifier]
    except KeyError as error:
        raise RealnetError(f"unknown model '{identifier}'; known: {', '.join(WEIGHTS)}") from error


def realnet_home() -> Path:
    """``$REALNET_HOME``, default ``~/.realnet``: weights/ and the training image cache/."""
    return Path(os.environ.get('REALNET_HOME') or Path.home() / '.realnet').expanduser()


def downloads_allowed() -> bool:
    """False when ``REALNET_OFFLINE`` is set (to anything but 0): then nothing is downloaded, and no
    model hub is asked anything, whatever a name says."""
    return os.environ.get('REALNET_OFFLINE', '') in ('', '0')


def private_result_cache() -> Path | None:
    """Points Brain-Score's result cache at ``$REALNET_HOME/resultcaching`` (made private, 0700)
    unless the user set ``RESULTCACHING_HOME``; the folder, or None if the user's is kept.

    Why: the cache (result_caching, default ``~/.result_caching``) is plain pickles under names
    anyone can predict, and `score` unpickles what it finds there: a planted entry would run code.
    Where a private folder cannot be had (not made, not a folder of this user's), caching is turned
    off (``RESULTCACHING_DISABLE=1``): slower, never unsafe. It must run before Brain-Score is
    imported: result_caching reads the variable when its decorators are applied, at import.
    """
    if os.environ.get('RESULTCACHING_HOME'):
        return None
    folder = realnet_home() / 'resultcaching'
    os.environ['RESULTCACHING_HOME'] = str(folder)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(folder)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.chmod(folder, 0o700)  # ours, but others could write (or read) it: made private
            info = os.lstat(folder)
    except OSError:
        info = None
    if info is None or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        os.environ['RESULTCACHING_DISABLE'] = '1'
    return folder


def weights_dir() -> Path:
    return realnet_home() / 'weights'


def cached_path(identifier: str) -> Path:
    return weights_dir() / source(identifier).filename


def status(identifier: str) -> str:
    """'verified', 'missing' or 'hash mismatch' for the cached file of ``identifier``."""
    return _state(source(identifier), cached_path(identifier))


def _state(spec: WeightSource, path: Path) -> str:
    """A FIFO, device, folder or dangling link where the file should be is refused, unopened."""
    if regular_file(path, 'weights file', missing_ok=True) is None:
        return 'missing'
    return 'verified' if spec.matches(path) else 'hash mismatch'


def resolve(identifier: str, progress: bool = True) -> Path:
    """Path of the verified weights of ``identifier``, downloading them if needed."""
    return fetch(source(identifier), cached_path(identifier), progress)


def fetch(spec: WeightSource, path: Path | None = None, progress: bool = True) -> Path:
    """``path`` (default: the cache, named by hash) holding ``spec``'s verified file, downloaded if needed.

    Downloads are skipped when ``REALNET_OFFLINE=1``. Failure is one RealnetError naming the URL,
    the expected hash and the exact path to put the file.
    """
    path = path or weights_dir() / f'{spec.algorithm}-{spec.digest}-{spec.filename}'
    state = _state(spec, path)
    if state == 'verified':
        return path
    try:
        if not downloads_allowed():
            raise RealnetError('downloads are disabled (REALNET_OFFLINE is set)')
        download(spec, path, progress)
        return path
    except RealnetError as reason:
        found = 'fails its hash check' if state == 'hash mismatch' else 'is missing'
        advice = (f'run `brainscore weights import {spec.identifier} FILE`, or put it at {path}'
                  if spec.identifier in WEIGHTS and WEIGHTS[spec.identifier] == spec else f'put it at {path}')
        raise RealnetError(
            f'{spec.identifier}: weights file {path} {found} and could not be fetched ({reason}); download '
            f'{spec.url} elsewhere (expected {spec.algorithm} {spec.digest}) and {advice}') from reason


def download(spec: WeightSource, destination: Path, progress: bool = True) -> None:
    """Download ``spec.url``, verify it, and only then move it to ``destination``."""
    with atomic_path(destination) as partial:
        try:
            with urllib.request.urlopen(spec.url, timeout=60) as response, open(partial, 'wb') as out:
                total = int(response.headers.get('Content-Length') or 0) or None
                with tqdm(total=total, unit='B', unit_scale=True, desc=spec.filename,
                          disable=not progress) as bar:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                        bar.update(len(chunk))
        except OSError as error:  # URLError, HTTPError and timeouts are OSErrors
            raise RealnetError(f'download failed: {getattr(error, "reason", error)}') from error
        _verify(spec, partial, what=f'download from {spec.url}')


def import_file(identifier: str, file) -> Path:
    """Verify a file the user fetched elsewhere and place it in the cache."""
    spec, file = source(identifier), regular_file(file, 'weights file')
    destination = cached_path(identifier)
    with atomic_path(destination) as partial:
        shutil.copyfile(file, partial)
        _verify(spec, partial, what=str(file))
    return destination


def _verify(spec: WeightSource, path: Path, what: str) -> None:
    actual = file_digest(path, spec.algorithm)
    if not actual.startswith(spec.digest):
        raise RealnetError(f'{what}: {spec.algorithm} is {actual}, expected {spec.digest} for '
                           f'{spec.identifier}: wrong or damaged file, not used')


def short_hash(path) -> str:
    """First 8 hex of the file's sha256: the suffix of identifiers built from a user's file."""
    return file_digest(path, 'sha256')[:8]


def model_identifier(identifier: str, weights_file=None) -> str:
    """Brain-Score's identifier of ``identifier`` with the weights of ``weights_file`` (None: the
    published ones). A user's file adds ``+<sha256[:8]>``: Brain-Score's activation cache is keyed
    by identifier alone, and must never mix it up with the published weights."""
    return with_digest(identifier, None if weights_file is None else short_hash(weights_file))
