"""Fail fast on what retrying cannot fix: errors are classified before Dagster's retry policy sees
them (a ``RetryPolicy`` retries any exception).

- Permanent (refused credentials, unknown product, missing or unwritable folder or bucket,
  invalid product or metadata, invalid settings, a spent download budget): ``dg.Failure`` with
  ``allow_retries=False``, the cause in its description. The step fails at once.
- Transient (connection errors, timeouts, HTTP 429/5xx of a catalogue, another run holding a
  product lock): ``dg.RetryRequested`` with exponential waits, at most :data:`TRANSIENT_RETRIES`
  times. Downloads retry inside their own budget first (``archive.download.RetryPolicy``).
- Anything else is left to the asset's ``RetryPolicy`` (an unforeseen error may be transient).
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

import dagster as dg

from ben_sen1_assets.archive.errors import ArchiveError, is_transient

TRANSIENT_RETRIES = 3
TRANSIENT_FIRST_WAIT_S = 30.0
TRANSIENT_MAX_WAIT_S = 600.0

_STORAGE_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)


def is_permanent(exc: BaseException) -> bool:
    """Whether retrying the step cannot help (see the module docstring)."""
    from ben_sen1_assets.sar.errors import SafeError
    from ben_sen1_assets.settings import SettingsError

    if isinstance(exc, ArchiveError):
        return not exc.transient
    if isinstance(exc, (SafeError, SettingsError, PermissionError, FileNotFoundError, NotADirectoryError,
                        IsADirectoryError)):
        return True
    return isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS


def transient_wait(retry_number: int) -> float:
    """Seconds before the next try of a step after a transient error (exponential, capped)."""
    return min(TRANSIENT_FIRST_WAIT_S * 2**retry_number, TRANSIENT_MAX_WAIT_S)


@contextlib.contextmanager
def classified(context: dg.AssetExecutionContext | dg.OpExecutionContext, what: str) -> Iterator[None]:
    """Run a step's work; permanent errors fail it at once, transient ones retry it with backoff."""
    try:
        yield
    except (dg.Failure, dg.RetryRequested):
        raise
    except Exception as exc:
        if is_transient(exc):
            retry = _retry_number(context)
            wait = transient_wait(retry)
            context.log.warning(
                f"{exc if str(exc).startswith(what) else f'{what}: {exc}'} — transient, try {retry + 2} of "
                f"{TRANSIENT_RETRIES + 1} in {wait:.0f} s"
            )
            raise dg.RetryRequested(max_retries=TRANSIENT_RETRIES, seconds_to_wait=wait) from exc
        if is_permanent(exc):
            raise permanent_failure(what, exc) from exc
        raise


def _retry_number(context) -> int:
    try:
        return int(context.retry_number)
    except Exception:  # a context built for direct invocation has no step attempts
        return 0


def permanent_failure(what: str, exc: BaseException) -> dg.Failure:
    """The ``dg.Failure`` for a permanent error: not retried, the cause in its description."""
    text = str(exc)
    return dg.Failure(
        description=text if text.startswith(what) else f"{what}: {text}",
        metadata={"error": type(exc).__name__, "retried": False},
        allow_retries=False,
    )


@contextlib.contextmanager
def storage_writes(path: object) -> Iterator[None]:
    """An IO manager's write: a missing or unwritable folder or bucket fails the step at once."""
    try:
        yield
    except (PermissionError, NotADirectoryError, IsADirectoryError, FileNotFoundError) as exc:
        raise permanent_failure(f"asset storage {path}", _storage_error(exc)) from exc
    except OSError as exc:
        if exc.errno in _STORAGE_ERRNOS:
            raise permanent_failure(f"asset storage {path}", _storage_error(exc)) from exc
        raise


def _storage_error(exc: OSError) -> ArchiveError:
    from ben_sen1_assets.archive.errors import StorageError

    return StorageError(
        f"cannot write: {exc.strerror or exc}; check that the folder or bucket exists and is writable "
        "(BEN_SEN1_STORAGE)"
    )
