"""Temporary files and folders that a crash cannot leave behind for ever.

Every temporary name the project makes carries its owner, ``~<host>~<pid>~``: local staging
folders (``<tempdir>/ben_sen1_<what>_~<host>~<pid>~…``, :func:`new_dir`, :func:`prefix`) and the
hidden siblings of outputs being published (``.<name>.~<host>~<pid>~<random>.tmp``,
:func:`temp_sibling`). A process killed with ``kill -9`` cannot clean up; the next one that
stages there does (:func:`sweep`): entries whose owner process is gone from this host, and
entries of any host untouched for :data:`MAX_AGE_S`, are removed. Entries of live processes are
never touched. Beside outputs, the next writer of *any* output of the same folder sweeps the
hidden siblings of all of them (a killed tile's leftovers do not wait for that tile's rerun);
only names of exactly our form are considered there, never another program's hidden files.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path

#: entries of another host (or an unreadable owner) older than this are removed
MAX_AGE_S = 24 * 3600.0
_OWNER = re.compile(r"~(?P<host>[A-Za-z0-9-]+)~(?P<pid>\d+)~")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def owner() -> str:
    """``~<host>~<pid>~`` of the calling process (computed per call: forked workers differ)."""
    return f"~{_host()}~{os.getpid()}~"


def prefix(what: str) -> str:
    """A ``tempfile`` prefix for ``what`` (e.g. ``"ben_sen1_chain_"``) naming this process."""
    return f"{what}{owner()}"


def process_alive(pid: int, since: float) -> bool:
    """Process ``pid`` runs and was started by ``since`` (a later one reuses a dead one's id)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= since + 1.0
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True


def is_stale(path: Path, now: float | None = None) -> bool:
    """Whether ``path`` (a name made here) belongs to a process that is gone."""
    now = time.time() if now is None else now
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    age = now - st.st_mtime
    match = _OWNER.search(path.name)
    if match is None or match.group("host") != _host():
        return age > MAX_AGE_S
    pid = int(match.group("pid"))
    if pid == os.getpid():
        return False
    return not process_alive(pid, min(st.st_ctime, st.st_mtime))


#: the hidden sibling of an output, as :func:`temp_sibling` names it
_SIBLING = re.compile(r"\..+\.~[A-Za-z0-9-]+~\d+~[0-9a-f]{12}\.(tmp.*|old|stage)")


def sweep(folder: str | os.PathLike, pattern: str, name: re.Pattern | None = None) -> list[Path]:
    """Remove the stale entries of ``folder`` matching the glob ``pattern`` (and, if given, whose
    whole name matches ``name``); returns them."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.glob(pattern):
        if name is not None and not name.fullmatch(entry.name):
            continue
        if not is_stale(entry):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue  # another process swept it first
        except OSError:
            continue  # not ours to remove (permissions): left for its owner
        removed.append(entry)
    return removed


def new_dir(what: str) -> Path:
    """A fresh local staging folder ``<tempdir>/<what><owner>_…``, after sweeping the stale ones
    of every kind (``ben_sen1_*``)."""
    sweep(tempfile.gettempdir(), "ben_sen1_*")
    return Path(tempfile.mkdtemp(prefix=prefix(what)))


def temp_sibling(final: Path, kind: str = "tmp", suffix: str = "") -> Path:
    """A hidden temporary name beside ``final`` (same file system: ``os.replace`` is atomic),
    after sweeping the stale ones of the same name and those of the folder's other outputs."""
    # one listing of the folder: this output's siblings by their loose form (an owner, then a
    # kind), the other outputs' only by the exact form (never another program's hidden files)
    same = re.escape(f".{final.name}.~") + r".*\.(?:tmp.*|old|stage)"
    sweep(final.parent, ".*", name=re.compile(f"(?:{same})|(?:{_SIBLING.pattern})"))
    return final.with_name(f".{final.name}.{owner()}{uuid.uuid4().hex[:12]}.{kind}{suffix}")
