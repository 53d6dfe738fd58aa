"""Resumable, verified HTTP downloads of archive products.

One :class:`Downloader` fetches one URL into a local partial file, resuming with
``Range: bytes=N-`` after dropped connections and stalls, honouring ``Retry-After`` on 429/503,
refreshing a bearer token once on 401, and verifying size and checksums (MD5, BLAKE3, any hashlib
algorithm) before it reports success. A size or checksum mismatch deletes the partial file and
starts again from zero a bounded number of times, then raises :class:`ChecksumMismatchError`.
Moving the verified file to its final place is the caller's job (see ``store.ProductStore``).

Credentials: the ``auth`` callable returns a bearer token; it is sent in a header only and never
appears in messages, logs or reprs.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import blake3
import requests
import urllib3

from .errors import AuthError, ChecksumMismatchError, DownloadError

logger = logging.getLogger(__name__)

_MB = 1024 * 1024


class BearerAuth(Protocol):
    """Returns a valid bearer token; ``force_refresh=True`` after the server answered 401."""

    def __call__(self, force_refresh: bool = False) -> str: ...


class StaticBearer:
    """A fixed bearer token (e.g. a NASA Earthdata user token for ASF downloads)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, force_refresh: bool = False) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticBearer(token=***)"


@dataclass(frozen=True)
class DownloadProgress:
    """One progress report: bytes so far (including resumed bytes), total when known, MB/s."""

    name: str
    bytes_done: int
    total: int | None
    percent: float | None
    rate_mb_s: float
    elapsed_s: float

    def __str__(self) -> str:
        pct = f"{self.percent:5.1f} %" if self.percent is not None else "  ?  %"
        tot = f"{self.total / _MB:.1f}" if self.total else "?"
        return (
            f"{self.name}: {pct} ({self.bytes_done / _MB:.1f}/{tot} MB) "
            f"{self.rate_mb_s:.2f} MB/s"
        )


ProgressCallback = Callable[[DownloadProgress], None]


class ProgressThrottle:
    """Calls ``callback`` at most every ``every_percent`` % or ``every_seconds`` s, and at the end.

    The rate is measured over the bytes received in this session (resumed bytes do not count).
    """

    def __init__(
        self,
        callback: ProgressCallback | None,
        name: str,
        total: int | None,
        *,
        every_percent: float = 5.0,
        every_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.callback = callback
        self.name = name
        self.total = total
        self.every_percent = every_percent
        self.every_seconds = every_seconds
        self.clock = clock
        self._t0 = clock()
        self._first_bytes: int | None = None
        self._last_t = self._t0
        self._last_pct = -1e9

    def update(self, bytes_done: int, *, final: bool = False) -> None:
        if self.callback is None:
            return
        now = self.clock()
        if self._first_bytes is None:
            self._first_bytes = bytes_done
        pct = 100.0 * bytes_done / self.total if self.total else None
        due = final or now - self._last_t >= self.every_seconds
        if pct is not None and pct - self._last_pct >= self.every_percent:
            due = True
        if not due:
            return
        elapsed = max(now - self._t0, 1e-9)
        rate = (bytes_done - self._first_bytes) / _MB / elapsed
        self._last_t = now
        if pct is not None:
            self._last_pct = pct
        self.callback(DownloadProgress(self.name, bytes_done, self.total, pct, rate, now - self._t0))


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a download tries.

    ``max_attempts``: consecutive failed requests without a single new byte before giving up.
    ``max_restarts``: downloads from zero after a size/checksum mismatch before giving up.
    Backoff: ``backoff * 2**(n-1)`` seconds capped at ``max_backoff``, unless the server sent
    ``Retry-After`` (capped at ``max_retry_after``).
    """

    max_attempts: int = 8
    max_restarts: int = 2
    backoff: float = 2.0
    max_backoff: float = 120.0
    max_retry_after: float = 900.0
    connect_timeout: float = 30.0
    read_timeout: float = 120.0


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    checksums: dict[str, str]
    requests: int
    restarts: int
    elapsed_s: float


def redact_url(url: str) -> str:
    """The URL without user info and query string (which may carry signatures or tokens)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _hasher(algorithm: str):
    alg = algorithm.upper()
    if alg == "BLAKE3":
        return blake3.blake3(max_threads=blake3.blake3.AUTO)
    try:
        return hashlib.new(alg.lower().replace("-", "_").replace("sha_", "sha"))
    except ValueError:
        return None


def file_checksums(path: str | os.PathLike, algorithms: tuple[str, ...] = ("MD5", "BLAKE3")) -> dict[str, str]:
    """Hex digests of a file for the given algorithms, in one pass (unknown algorithms skipped)."""
    hashers = {a.upper(): h for a in algorithms if (h := _hasher(a)) is not None}
    with open(path, "rb") as f:
        while chunk := f.read(8 * _MB):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


def verify_file(
    path: str | os.PathLike, size: int | None, checksums: Mapping[str, str] | None
) -> tuple[str | None, dict[str, str]]:
    """Check a file's size and checksums: (None, digests) if it matches, else (problem, digests)."""
    path = Path(path)
    expected = {k.upper(): v.lower() for k, v in (checksums or {}).items() if v}
    got = path.stat().st_size if path.exists() else 0
    if size is not None and got != size:
        return f"size mismatch: expected {size} bytes, got {got}", {}
    digests = file_checksums(path, tuple(expected)) if expected else {}
    for alg, want in expected.items():
        if alg not in digests:
            logger.warning("%s: cannot verify unknown checksum algorithm %s", path.name, alg)
            continue
        if digests[alg] != want:
            return f"{alg} mismatch: expected {want}, got {digests[alg]}", digests
    return None, digests


def _content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """``bytes first-last/complete`` -> (first, last, complete); ``*`` parts as None."""
    if not value or not value.strip().lower().startswith("bytes"):
        return None, None, None
    spec = value.strip()[5:].strip()
    rng, _, complete = spec.partition("/")
    first = last = None
    if rng != "*":
        a, _, b = rng.partition("-")
        first, last = int(a), int(b)
    return first, last, (int(complete) if complete.strip() not in ("", "*") else None)


_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
)
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class Downloader:
    """Resumable, verified downloads over HTTP(S).

    ``sleep`` and ``clock`` are injectable so that tests can check waits without real time.
    """

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        auth: BearerAuth | None = None,
        policy: RetryPolicy = RetryPolicy(),
        chunk_size: int = 256 * 1024,  # bytes read in a stall are lost with the chunk: keep it small
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        progress_every_percent: float = 5.0,
        progress_every_seconds: float = 10.0,
    ) -> None:
        self.session = session or requests.Session()
        self.auth = auth
        self.policy = policy
        self.chunk_size = chunk_size
        self.sleep = sleep
        self.clock = clock
        self.progress_every_percent = progress_every_percent
        self.progress_every_seconds = progress_every_seconds

    def __repr__(self) -> str:
        return f"Downloader(policy={self.policy!r}, auth={'***' if self.auth else None})"

    # -- public -----------------------------------------------------------------------------
    def download(
        self,
        url: str,
        dest: str | os.PathLike,
        *,
        size: int | None = None,
        checksums: Mapping[str, str] | None = None,
        name: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        """Download ``url`` to ``dest`` via ``dest + '.part'``; ``dest`` appears only verified."""
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        result = self.download_to(url, part, size=size, checksums=checksums, name=name, progress=progress)
        os.replace(part, dest)
        return DownloadResult(dest, result.size, result.checksums, result.requests, result.restarts, result.elapsed_s)

    def download_to(
        self,
        url: str,
        part: str | os.PathLike,
        *,
        size: int | None = None,
        checksums: Mapping[str, str] | None = None,
        name: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        """Download (or resume) ``url`` into the partial file ``part`` and verify it there.

        An existing ``part`` is resumed. On success ``part`` holds the verified bytes; on a size or
        checksum mismatch it is deleted and the download restarts from zero, at most
        ``policy.max_restarts`` times, then :class:`ChecksumMismatchError` is raised (``part``
        deleted). Other failures raise :class:`DownloadError` / :class:`AuthError` and leave
        ``part`` in place for a later resume.
        """
        part = Path(part)
        part.parent.mkdir(parents=True, exist_ok=True)
        name = name or part.name
        expected = {k.upper(): v.lower() for k, v in (checksums or {}).items() if v}
        t0 = self.clock()
        restarts = 0
        n_requests = 0
        while True:
            n_requests += self._fetch(url, part, size, name, progress)
            problem, digests = self._verify(part, size, expected)
            if problem is None:
                got = part.stat().st_size
                logger.info("%s: verified %d bytes (%s)", name, got, ", ".join(sorted(digests)) or "size only")
                return DownloadResult(part, got, digests, n_requests, restarts, self.clock() - t0)
            part.unlink(missing_ok=True)
            restarts += 1
            if restarts > self.policy.max_restarts:
                raise ChecksumMismatchError(
                    f"{name}: {problem} after {restarts} complete download(s) from {redact_url(url)}; "
                    "the partial file was deleted"
                )
            logger.warning("%s: %s; deleted the partial file, downloading again from zero", name, problem)

    # -- internals --------------------------------------------------------------------------
    def _verify(self, part: Path, size: int | None, expected: dict[str, str]) -> tuple[str | None, dict[str, str]]:
        return verify_file(part, size, expected)

    def _headers(self, offset: int, force_refresh: bool) -> dict[str, str]:
        headers = {"Accept-Encoding": "identity"}  # byte offsets must be offsets in the file
        if offset:
            headers["Range"] = f"bytes={offset}-"
        if self.auth is not None:
            headers["Authorization"] = f"Bearer {self.auth(force_refresh=force_refresh)}"
        return headers

    def _wait(self, failures: int, retry_after: float | None, reason: str, name: str) -> None:
        if failures > self.policy.max_attempts:
            raise DownloadError(
                f"{name}: giving up after {failures} consecutive failed attempts without progress "
                f"(last: {reason})"
            )
        if retry_after is not None:
            delay = min(retry_after, self.policy.max_retry_after)
        else:
            delay = min(self.policy.backoff * 2 ** (failures - 1), self.policy.max_backoff)
        logger.warning("%s: %s; retry %d/%d in %.1f s", name, reason, failures, self.policy.max_attempts, delay)
        self.sleep(delay)

    def _fetch(self, url: str, part: Path, size: int | None, name: str, progress: ProgressCallback | None) -> int:
        """Bring ``part`` to completion (as far as the server says); returns the request count."""
        total = size
        failures = 0
        refresh = False
        refreshed_since_progress = False
        n_requests = 0
        throttle: ProgressThrottle | None = None
        safe_url = redact_url(url)
        timeout = (self.policy.connect_timeout, self.policy.read_timeout)
        while True:
            offset = part.stat().st_size if part.exists() else 0
            if total is not None and offset > total:
                logger.warning("%s: partial file (%d B) is longer than the product (%d B); restarting", name, offset, total)
                part.unlink()
                offset = 0
            if total is not None and offset == total and total > 0:
                return n_requests
            n_requests += 1
            try:
                resp = self.session.get(
                    url, headers=self._headers(offset, refresh), stream=True, timeout=timeout
                )
            except _TRANSIENT as exc:
                failures += 1
                self._wait(failures, None, f"{type(exc).__name__} connecting to {safe_url}", name)
                continue
            finally:
                refresh = False
            with resp:
                status = resp.status_code
                if status == 401 and self.auth is not None:
                    if refreshed_since_progress:
                        raise AuthError(f"{name}: {safe_url} refused a freshly refreshed token (HTTP 401)")
                    logger.info("%s: HTTP 401, refreshing the token and resuming at byte %d", name, offset)
                    refresh = refreshed_since_progress = True
                    continue
                if status in (401, 403):
                    raise AuthError(f"{name}: HTTP {status} from {safe_url} (credentials refused or missing)")
                if status in _RETRY_STATUS:
                    failures += 1
                    self._wait(failures, retry_after_seconds(resp.headers.get("Retry-After")), f"HTTP {status}", name)
                    continue
                if status == 416:
                    _, _, complete = _content_range(resp.headers.get("Content-Range"))
                    if complete is not None and complete == offset and (total is None or total == offset):
                        return n_requests
                    logger.warning("%s: HTTP 416 at byte %d (server size %s); restarting", name, offset, complete)
                    part.unlink(missing_ok=True)
                    failures += 1
                    self._wait(failures, None, "HTTP 416", name)
                    continue
                if status == 206:
                    first, _, complete = _content_range(resp.headers.get("Content-Range"))
                    if first != offset:
                        logger.warning("%s: 206 for byte %s, asked for %d; restarting", name, first, offset)
                        part.unlink(missing_ok=True)
                        failures += 1
                        self._wait(failures, None, "bad Content-Range", name)
                        continue
                    if total is None:
                        total = complete
                    mode = "ab"
                elif status == 200:
                    if offset:
                        logger.info("%s: server ignored the Range header; restarting from zero", name)
                        offset = 0
                    length = resp.headers.get("Content-Length")
                    if total is None and length and length.isdigit():
                        total = int(length)
                    mode = "wb"
                else:
                    raise DownloadError(f"{name}: HTTP {status} from {safe_url}")

                if throttle is None:
                    throttle = ProgressThrottle(
                        progress, name, total, every_percent=self.progress_every_percent,
                        every_seconds=self.progress_every_seconds, clock=self.clock,
                    )
                got = 0
                error: BaseException | None = None
                try:
                    with open(part, mode) as f:
                        for chunk in resp.iter_content(self.chunk_size):
                            f.write(chunk)
                            got += len(chunk)
                            throttle.update(offset + got)
                except _TRANSIENT as exc:
                    error = exc
                if got:
                    failures = 0
                    refreshed_since_progress = False
                done = offset + got
                if error is None and (total is None or done >= total):
                    throttle.update(done, final=True)
                    return n_requests
                failures += 1
                reason = (
                    f"{type(error).__name__} after {done} bytes" if error is not None
                    else f"body ended at byte {done} of {total}"
                )
                self._wait(failures, None, reason, name)
