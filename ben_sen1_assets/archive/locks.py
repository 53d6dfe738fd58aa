"""Cross-process locks for the product store: a lock file (local) or a lock object (S3 & co).

Semantics, both kinds:

- A lock is held by one *owner* (a random token; host and pid are recorded for people).
- The holder keeps it alive with a heartbeat thread (every ``heartbeat`` s). A lock whose last
  heartbeat is older than ``stale_after`` s is *stale*: its holder crashed or hangs, and the next
  comer breaks it. ``stale_after`` must be several heartbeats long.
- Local files: created with ``O_CREAT | O_EXCL``; heartbeat = mtime; a lock of a dead pid on this
  host is stale at once. Breaking renames the file to a unique name first, so two breakers cannot
  both win; a lock that was refreshed in between is put back.
- Object storage: created with a conditional PUT (``If-None-Match: *``, supported by AWS S3 since
  2024, MinIO, moto); the object holds ``expires_at`` (holder's clock + ``stale_after``), renewed by
  the heartbeat with ``If-Match: <etag>``. A lock past ``expires_at`` is broken with a conditional
  DELETE (``If-Match``). Clock skew between machines must stay well below ``stale_after``.
  If a renewal finds the lock gone or replaced, the holder has lost it: ``lost`` becomes True and
  the store refuses to publish on top of the new holder.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import LockTimeoutError

logger = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _BaseLock:
    def __init__(self, label: str, *, stale_after: float, heartbeat: float | None, poll: float,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if heartbeat is not None and heartbeat * 2 > stale_after:
            raise ValueError(f"lock heartbeat {heartbeat}s must be under half of stale_after {stale_after}s")
        self.label = label
        self.stale_after = stale_after
        self.heartbeat = heartbeat
        self.poll = poll
        self.sleep = sleep
        self.token = uuid.uuid4().hex
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _info(self) -> dict[str, Any]:
        return {"owner": self.token, "host": socket.gethostname(), "pid": os.getpid(), "created": time.time()}

    # subclass hooks
    def _try_create(self) -> bool: ...
    def _break_if_stale(self) -> bool: ...
    def _renew(self) -> bool: ...
    def _delete(self) -> None: ...

    def acquire(self, timeout: float | None = None) -> None:
        """Block until the lock is ours (``timeout`` None: wait for ever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        announced = False
        while True:
            if self._try_create():
                self._start_heartbeat()
                return
            if self._break_if_stale():
                continue
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeoutError(f"{self.label}: still locked by another run after {timeout:.0f} s")
            if not announced:
                logger.info("%s: locked by another run; waiting", self.label)
                announced = True
            self.sleep(self.poll)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.lost:
            self._delete()

    def _start_heartbeat(self) -> None:
        if self.heartbeat is None:
            return
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(self.heartbeat):
                try:
                    if not self._renew():
                        self.lost = True
                        logger.error("%s: lock lost (broken by another run as stale)", self.label)
                        return
                except Exception as exc:  # keep beating through transient storage errors
                    logger.warning("%s: lock heartbeat failed: %s", self.label, exc)

        self._thread = threading.Thread(target=beat, name=f"lock-heartbeat-{self.label}", daemon=True)
        self._thread.start()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class FileLock(_BaseLock):
    """A lock file on a local (or POSIX-shared) file system."""

    def __init__(self, path: str | os.PathLike, *, stale_after: float = 600.0, heartbeat: float | None = 60.0,
                 poll: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = Path(path)
        super().__init__(str(self.path.name), stale_after=stale_after, heartbeat=heartbeat, poll=poll, sleep=sleep)

    def _try_create(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(self._info(), f)
        return True

    def _read(self, path: Path) -> tuple[dict[str, Any] | None, float | None]:
        try:
            st = path.stat()
            return json.loads(path.read_text() or "{}"), st.st_mtime
        except FileNotFoundError:
            return None, None
        except (ValueError, OSError):
            # being written right now (created, not yet filled): not stale unless old
            try:
                return {}, path.stat().st_mtime
            except FileNotFoundError:
                return None, None

    def _is_stale(self, info: dict[str, Any], mtime: float) -> bool:
        if time.time() - mtime > self.stale_after:
            return True
        pid, host = info.get("pid"), info.get("host")
        return bool(pid) and host == socket.gethostname() and not _pid_alive(int(pid))

    def _break_if_stale(self) -> bool:
        info, mtime = self._read(self.path)
        if info is None:
            return True  # vanished: try again at once
        if not self._is_stale(info, mtime):
            return False
        aside = self.path.with_name(f"{self.path.name}.broken-{uuid.uuid4().hex}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return True
        moved, moved_mtime = self._read(aside)
        if moved is not None and (moved.get("owner") != info.get("owner") or not self._is_stale(moved, moved_mtime)):
            # we moved a fresh lock taken in between: put it back unless someone else holds the name now
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        else:
            logger.warning("%s: broke a stale lock of %s", self.label, {k: info.get(k) for k in ("host", "pid")})
        aside.unlink(missing_ok=True)
        return True

    def _renew(self) -> bool:
        info, _ = self._read(self.path)
        if info is None or info.get("owner") != self.token:
            return False
        os.utime(self.path)
        return True

    def _delete(self) -> None:
        info, _ = self._read(self.path)
        if info is not None and info.get("owner") == self.token:
            self.path.unlink(missing_ok=True)


def _is_precondition_failed(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc} {getattr(exc, '__cause__', '')}"
    return "PreconditionFailed" in text or "412" in text or "Precondition" in text


class ObjectLock(_BaseLock):
    """A lock object on fsspec object storage with conditional writes (S3, MinIO)."""

    def __init__(self, fs, path: str, *, stale_after: float = 600.0, heartbeat: float | None = 60.0,
                 poll: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.fs = fs
        self.path = path
        self.etag: str | None = None
        super().__init__(path.rsplit("/", 1)[-1], stale_after=stale_after, heartbeat=heartbeat, poll=poll, sleep=sleep)

    def _body(self) -> bytes:
        info = self._info()
        info["expires_at"] = time.time() + self.stale_after
        return json.dumps(info).encode()

    @staticmethod
    def _etag(out: Any) -> str | None:
        if isinstance(out, dict):
            return out.get("ETag")
        return None

    def _split(self) -> tuple[str, str]:
        bucket, key, _ = self.fs.split_path(self.path)
        return bucket, key

    def _try_create(self) -> bool:
        try:
            out = self.fs.pipe_file(self.path, self._body(), mode="create")
        except Exception as exc:
            if _is_precondition_failed(exc):
                return False
            raise
        self.fs.invalidate_cache(self.path)
        self.etag = self._etag(out) or self.fs.info(self.path).get("ETag")
        return True

    def _read(self) -> tuple[dict[str, Any] | None, str | None]:
        self.fs.invalidate_cache(self.path)
        try:
            data = self.fs.cat_file(self.path)
            etag = self.fs.info(self.path).get("ETag")
        except FileNotFoundError:
            return None, None
        try:
            return json.loads(data), etag
        except ValueError:
            return {}, etag

    def _break_if_stale(self) -> bool:
        info, etag = self._read()
        if info is None:
            return True
        pid, host = info.get("pid"), info.get("host")
        holder_dead = bool(pid) and host == socket.gethostname() and not _pid_alive(int(pid))
        if float(info.get("expires_at", 0)) > time.time() and not holder_dead:
            return False
        bucket, key = self._split()
        try:
            self.fs.call_s3("delete_object", Bucket=bucket, Key=key, IfMatch=etag)
        except FileNotFoundError:
            return True
        except Exception as exc:
            if _is_precondition_failed(exc):
                return True  # renewed or replaced in between: look again
            raise
        self.fs.invalidate_cache(self.path)
        logger.warning("%s: broke an expired lock of %s", self.label, {k: info.get(k) for k in ("host", "pid")})
        return True

    def _renew(self) -> bool:
        try:
            out = self.fs.pipe_file(self.path, self._body(), IfMatch=self.etag)
        except FileNotFoundError:
            return False
        except Exception as exc:
            if _is_precondition_failed(exc):
                return False
            raise
        self.fs.invalidate_cache(self.path)
        self.etag = self._etag(out) or self.fs.info(self.path).get("ETag")
        return True

    def _delete(self) -> None:
        bucket, key = self._split()
        try:
            self.fs.call_s3("delete_object", Bucket=bucket, Key=key, IfMatch=self.etag)
        except FileNotFoundError:
            pass
        except Exception as exc:
            if not _is_precondition_failed(exc):
                raise
        self.fs.invalidate_cache(self.path)
