"""Temporary files of a process killed with SIGKILL are removed by the next process that stages
there; those of live processes never are."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from upath import UPath

from ben_sen1_assets.formats import staging
from ben_sen1_assets.formats.atomic import atomic_directory, atomic_file

LEAVE_BEHIND = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from ben_sen1_assets.formats import staging
    folder = staging.new_dir("ben_sen1_staged_")
    (folder / "half.tif").write_bytes(b"half")
    sibling = staging.temp_sibling(Path(sys.argv[1]))
    sibling.write_bytes(b"half")
    print(folder, sibling, flush=True)
    if sys.argv[2] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()  # stay alive until told
""")


def _leave_behind(tmp_path: Path, final: Path, mode: str) -> tuple[subprocess.Popen, Path, Path]:
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    proc = subprocess.Popen([sys.executable, "-c", LEAVE_BEHIND, str(final), mode], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    folder, sibling = proc.stdout.readline().split()
    return proc, Path(folder), Path(sibling)


def test_a_killed_process_leftovers_are_swept_and_a_live_ones_are_kept(tmp_path, monkeypatch):
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    final = tmp_path / "storage" / "31TEL_20210809.parquet"
    final.parent.mkdir()
    dead, dead_folder, dead_sibling = _leave_behind(tmp_path, final, "die")
    dead.wait(10)
    assert f"~{staging._host()}~{dead.pid}~" in dead_folder.name and dead_sibling.name.startswith(f".{final.name}.~")
    assert staging.is_stale(dead_folder) and staging.is_stale(dead_sibling)
    # the next process that stages (there and beside the same output) removes them
    live, live_folder, live_sibling = _leave_behind(tmp_path, final, "live")
    try:
        assert not dead_folder.exists() and not dead_sibling.exists()
        assert not staging.is_stale(live_folder) and not staging.is_stale(live_sibling)
        mine = staging.new_dir("ben_sen1_staged_")  # sweeps the tempdir
        with atomic_file(UPath(final)) as tmp:  # sweeps beside the output
            tmp.write_bytes(b"complete")
        assert final.read_bytes() == b"complete"
        assert live_folder.exists() and live_sibling.exists() and mine.exists()  # a live process's: kept
    finally:
        live.communicate("", timeout=10)
    assert staging.is_stale(live_folder)  # now that it has exited
    # another host's leftovers (a shared folder) go only once old
    other = tmp_path / "tmp" / "ben_sen1_chain_~elsewhere~123~abc"
    other.mkdir()
    assert not staging.is_stale(other)
    old = time.time() - staging.MAX_AGE_S - 60
    os.utime(other, (old, old))
    assert staging.is_stale(other) and other in staging.sweep(tmp_path / "tmp", "ben_sen1_*")


def test_a_reused_process_id_does_not_keep_a_leftover(tmp_path):
    """The pid in the name is alive, but that process started after the entry was made."""
    entry = tmp_path / f"ben_sen1_staged_~{staging._host()}~{os.getppid()}~x"
    entry.mkdir()
    past = time.time() - 10 * 365 * 86400  # before the parent process started
    os.utime(entry, (past, past))
    assert staging.is_stale(entry)


def test_atomic_directory_sweeps_a_killed_writers_tmp_and_old(tmp_path):
    final = tmp_path / "patches" / "31TEL_20210809.zarr"
    final.parent.mkdir()
    for kind in ("tmp", "old"):
        (final.parent / f".{final.name}.~{staging._host()}~999999999~abc.{kind}").mkdir()
    with atomic_directory(UPath(final)) as tmp:
        tmp.mkdir()
        (tmp / "zarr.json").write_text("{}")
    assert sorted(p.name for p in final.parent.iterdir()) == [final.name]


def test_publishing_one_output_sweeps_the_killed_leftovers_of_the_others(tmp_path):
    """A writer killed while publishing 31TEL leaves hidden siblings; the next publication of any
    output of that folder (here 33TTG) removes them. A live process's, another host's recent one
    and hidden files of other programs stay."""
    folder = tmp_path / "patches"
    folder.mkdir()
    host = staging._host()
    dead = [folder / f".31TEL_20210809.zarr.~{host}~999999999~0123456789ab.{kind}" for kind in ("tmp", "old")]
    dead.append(folder / f".31TEL_20210809.tif.~{host}~999999999~0123456789ab.tmp.tif")
    kept = [folder / f".32TQM_20211211.zarr.~{host}~{os.getppid()}~0123456789ab.tmp",  # live
            folder / ".33UUP_20210817.zarr.~elsewhere~123~0123456789ab.old",  # another host, recent
            folder / ".editor.swp.~backup.old", folder / ".DS_Store"]  # not ours
    for p in dead[:2] + kept[:2]:
        p.mkdir()
    for p in dead[2:] + kept[2:]:
        p.write_bytes(b"x")
    with atomic_directory(UPath(folder / "33TTG_20211211.zarr")) as tmp:
        tmp.mkdir()
        (tmp / "zarr.json").write_text("{}")
    assert not any(p.exists() for p in dead)
    assert all(p.exists() for p in kept)
