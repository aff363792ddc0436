"""files.py: a killed writer's temporary file is removed by the next write; a live one is not."""
import os
import socket
import subprocess
import sys

from realnet_brainscore.files import atomic_path

HOST = socket.gethostname().replace('.', '_')


def test_the_next_write_removes_what_a_killed_writer_left_and_only_that(tmp_path):
    destination = tmp_path / 'best.pt'
    finished = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True,
                              text=True, check=True)
    dead = finished.stdout.strip()
    orphan = tmp_path / f'.best.pt.{dead}-{HOST}.abc123.partial'  # its writer has ended
    live = tmp_path / f'.best.pt.{os.getppid()}-{HOST}.def456.partial'  # a writer still running (our parent)
    other = tmp_path / f'.last.pt.{dead}-{HOST}.abc123.partial'  # another file's: not this write's
    elsewhere = tmp_path / f'.best.pt.{dead}-another_node.abc123.partial'  # a shared folder: that pid is not ours
    for file in (orphan, live, other, elsewhere):
        file.write_bytes(b'half')
    with atomic_path(destination) as partial:
        assert partial.name.startswith(f'.best.pt.{os.getpid()}-{HOST}.')
        partial.write_bytes(b'whole')
    assert destination.read_bytes() == b'whole'
    assert not orphan.exists() and live.exists() and other.exists() and elsewhere.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(['best.pt', live.name, other.name, elsewhere.name])
