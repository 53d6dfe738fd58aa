"""Finding SNAP's ``gpt`` and running a graph with it (subprocess, progress, timeout, errors)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from ..formats import staging
from .snap_graph import SnapError, SnapNotFoundError, SnapRunError, write_outputs_of

#: environment variable naming the ``gpt`` executable
GPT_ENV = "SNAP_GPT"


#: where SNAP installers put ``gpt`` (checked after $SNAP_GPT and PATH)
COMMON_GPT_LOCATIONS: tuple[str, ...] = (
    "~/esa-snap/bin/gpt",
    "~/snap/bin/gpt",
    "/opt/esa-snap/bin/gpt",
    "/opt/snap/bin/gpt",
    "/usr/local/esa-snap/bin/gpt",
    "/usr/local/snap/bin/gpt",
    "/Applications/esa-snap/bin/gpt",
    "/Applications/snap/bin/gpt",
    r"C:\Program Files\esa-snap\bin\gpt.exe",
    r"C:\Program Files\snap\bin\gpt.exe",
)



def esa_snappy_available() -> bool:
    """Whether SNAP's Python bridge ``esa_snappy`` is importable (checked without importing it:
    importing starts a JVM)."""
    try:
        return importlib.util.find_spec("esa_snappy") is not None
    except (ImportError, ValueError):
        return False


def _looks_like_snap_gpt(path: Path) -> bool:
    # macOS ships /usr/sbin/gpt (a partition tool): accept a PATH hit only inside a SNAP install
    real = path.resolve()
    bindir = real.parent
    return (bindir / "gpt.vmoptions").exists() or (bindir.parent / "etc" / "snap.properties").exists() or (
        bindir.parent / "snap").is_dir()


def find_gpt(search_dirs: Sequence[str | os.PathLike] | None = None) -> Path:
    """The SNAP ``gpt`` executable: ``$SNAP_GPT``, else ``gpt`` on PATH (inside a SNAP install),
    else :data:`COMMON_GPT_LOCATIONS` (or ``search_dirs``). Raises :class:`SnapNotFoundError`."""
    env = os.environ.get(GPT_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise SnapNotFoundError(f"SNAP gpt not found: ${GPT_ENV} = {env!r} is not a file")
        if not os.access(p, os.X_OK):
            raise SnapNotFoundError(f"SNAP gpt not usable: ${GPT_ENV} = {env!r} is not executable")
        return p
    looked = []
    on_path = shutil.which("gpt")
    if on_path:
        looked.append(on_path)
        if _looks_like_snap_gpt(Path(on_path)):
            return Path(on_path)
    for cand in (COMMON_GPT_LOCATIONS if search_dirs is None else search_dirs):
        p = Path(cand).expanduser()
        looked.append(str(p))
        if p.is_file() and os.access(p, os.X_OK):
            return p
    raise SnapNotFoundError(
        f"SNAP gpt not found: set {GPT_ENV} or install SNAP (looked at PATH and {', '.join(looked)})"
    )


_PERCENT = re.compile(rb"(\d{1,3})\s?%")


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _tail(lines: deque) -> str:
    return b"".join(lines).decode("utf-8", "replace")[-4000:]


def run_graph(
    graph_xml: str,
    gpt: str | os.PathLike | None = None,
    memory: str | None = None,
    cache: str | None = None,
    threads: int | None = None,
    progress: Callable[[float], None] | None = None,
    workdir: str | os.PathLike | None = None,
    timeout: float | None = None,
    extra_args: Sequence[str] = (),
) -> dict[str, Path]:
    """Run ``gpt`` on ``graph_xml``; return ``{Write node id: output file}``.

    ``memory``: Java heap, e.g. ``"8G"`` (passed as ``-J-Xmx8G`` to SNAP's launcher); ``cache``:
    tile cache (``-c``), ``threads``: parallelism (``-q``); ``progress``: called with a fraction
    in [0, 1] as gpt reports percentages. The graph is saved as ``graph.xml`` in ``workdir`` (a
    temporary folder, removed afterwards, if None). A non-zero exit, a timeout or a missing
    output raises :class:`SnapRunError` with the tail of gpt's stderr and stdout.
    """
    outputs = write_outputs_of(graph_xml)
    if not outputs:
        raise SnapError("graph has no Write node: nothing would be produced")
    exe = Path(gpt) if gpt is not None else find_gpt()
    tmp = tempfile.TemporaryDirectory(prefix=staging.prefix("ben_sen1_snap_")) if workdir is None else None
    wd = Path(tmp.name if tmp is not None else workdir)
    wd.mkdir(parents=True, exist_ok=True)
    try:
        graph_file = wd / "graph.xml"
        graph_file.write_text(graph_xml, encoding="utf-8")
        cmd = [str(exe)]
        if memory:
            cmd.append(f"-J-Xmx{memory}")
        cmd += [str(graph_file), "-e"]
        if cache:
            cmd += ["-c", str(cache)]
        if threads:
            cmd += ["-q", str(int(threads))]
        cmd += list(extra_args)
        for path in outputs.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # own session: a timeout kills gpt's launcher *and* the JVM it starts
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=wd,
                                    start_new_session=os.name == "posix")
        except OSError as exc:
            raise SnapRunError(f"cannot start SNAP gpt {exe}: {exc}") from exc
        err_tail: deque = deque(maxlen=200)
        out_tail: deque = deque(maxlen=200)
        reader = threading.Thread(target=lambda: err_tail.extend(iter(proc.stderr.readline, b"")), daemon=True)
        reader.start()
        timer = threading.Timer(timeout, _kill_tree, (proc,)) if timeout else None
        if timer:
            timer.start()
        done = 0
        pending = b""
        try:
            while chunk := proc.stdout.read1(4096):
                out_tail.append(chunk)
                if progress is None:
                    continue
                # gpt prints "....10%....20%" without newlines: scan the chunk plus a short carry-over
                pending += chunk
                for m in _PERCENT.finditer(pending):
                    pct = min(100, int(m.group(1)))
                    if pct > done:
                        done = pct
                        progress(pct / 100.0)
                pending = pending[-4:] if not pending.endswith(b"%") else b""
            rc = proc.wait()
        finally:
            if timer:
                timer.cancel()
            reader.join(timeout=5)
        if rc != 0:
            killed = " (killed after the timeout)" if timer and rc < 0 else ""
            raise SnapRunError(
                f"SNAP gpt failed with exit code {rc}{killed}: {' '.join(cmd)}\n"
                f"--- stderr (tail) ---\n{_tail(err_tail)}\n--- stdout (tail) ---\n{_tail(out_tail)[-1500:]}",
                rc, _tail(err_tail), _tail(out_tail),
            )
        missing = [str(p) for p in outputs.values() if not p.is_file()]
        if missing:
            raise SnapRunError(
                f"SNAP gpt exited 0 but did not write {missing}\n--- stdout (tail) ---\n{_tail(out_tail)[-1500:]}",
                rc, _tail(err_tail), _tail(out_tail),
            )
        if progress is not None and done < 100:
            progress(1.0)
        return outputs
    finally:
        if tmp is not None:
            tmp.cleanup()
