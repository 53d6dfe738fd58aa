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
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import blake3
import requests
import urllib3

from .errors import (
    ArchiveError,
    AuthError,
    ChecksumMismatchError,
    DownloadError,
    InvalidProductError,
    ProductNotFoundError,
)
from .verify import describe_content

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
    """How hard, and for how long, a download of one product tries.

    Transient trouble (connection errors, timeouts, HTTP 408/425/429/5xx, a dropped or short body,
    an HTML/JSON page instead of the product) is retried with backoff ``backoff * 2**(n-1)``
    seconds capped at ``max_backoff``, or what the server's ``Retry-After`` asks (at most
    ``max_retry_after``; a longer request ends the download at once). The budget of one product:

    - ``max_attempts``: consecutive failed requests without a single new byte;
    - ``max_requests``: requests in all (resumed ones included);
    - ``max_seconds``: wall time, waits included (checked before each wait and while receiving);
    - ``max_restarts``: complete downloads that failed verification (size, checksum, SAFE
      content), and bodies that were not the product, each followed by a download from zero;
    - ``max_range_restarts``: restarts from zero because the server ignored ``Range``.

    Whatever runs out first ends the download with a :class:`DownloadError` saying what the
    server did. Refused credentials (401 after a refresh, 403), 404/410 and other 4xx end it at once.
    """

    max_attempts: int = 8
    max_requests: int = 60
    max_seconds: float = 6 * 3600.0
    max_restarts: int = 2
    max_range_restarts: int = 3
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
    validation: object = None  # what ``validate`` returned (e.g. a Verification)


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


def file_checksums(
    path: str | os.PathLike, algorithms: tuple[str, ...] = ("MD5", "BLAKE3"), storage_options: Mapping | None = None
) -> dict[str, str]:
    """Hex digests of a file (local, or any fsspec URL with ``storage_options``) for the given
    algorithms, in one pass (unknown algorithms skipped)."""
    import fsspec

    hashers = {a.upper(): h for a in algorithms if (h := _hasher(a)) is not None}
    with fsspec.open(os.fspath(path) if not hasattr(path, "protocol") else str(path), "rb", **dict(storage_options or {})) as f:
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


class _Budget:
    """One product's download budget (see :class:`RetryPolicy`) and a tally of what went wrong."""

    def __init__(self, name: str, policy: RetryPolicy, clock: Callable[[], float]) -> None:
        self.name = name
        self.policy = policy
        self.clock = clock
        self.t0 = clock()
        self.requests = 0
        self.failures = 0  # consecutive, without a new byte
        self.restarts = 0  # complete downloads that failed verification, bodies that were not the product
        self.range_restarts = 0
        self.tally: Counter[str] = Counter()

    @property
    def elapsed(self) -> float:
        return self.clock() - self.t0

    def summary(self) -> str:
        events = ", ".join(f"{n}× {what}" if n > 1 else what for what, n in self.tally.most_common(6))
        return f"{self.requests} request(s) in {self.elapsed:.1f} s" + (f"; the server: {events}" if events else "")

    def give_up(self, why: str) -> DownloadError:
        return DownloadError(f"{self.name}: {why} ({self.summary()})")

    def note(self, what: str) -> None:
        self.tally[what] += 1

    def check_time(self) -> None:
        if self.elapsed > self.policy.max_seconds:
            raise self.give_up(f"giving up: the download took longer than its budget of {self.policy.max_seconds:.0f} s")

    def next_request(self) -> None:
        if self.requests >= self.policy.max_requests:
            raise self.give_up(f"giving up after {self.requests} requests (budget max_requests={self.policy.max_requests})")
        self.check_time()
        self.requests += 1


class Downloader:
    """Resumable, verified downloads over HTTP(S), each within a budget (:class:`RetryPolicy`).

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
        validate: Callable[[Path], object] | None = None,
    ) -> DownloadResult:
        """Download ``url`` to ``dest`` via ``dest + '.part'``; ``dest`` appears only verified."""
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        result = self.download_to(url, part, size=size, checksums=checksums, name=name, progress=progress,
                                  validate=validate)
        os.replace(part, dest)
        return DownloadResult(dest, result.size, result.checksums, result.requests, result.restarts,
                              result.elapsed_s, result.validation)

    def download_to(
        self,
        url: str,
        part: str | os.PathLike,
        *,
        size: int | None = None,
        checksums: Mapping[str, str] | None = None,
        name: str | None = None,
        progress: ProgressCallback | None = None,
        validate: Callable[[Path], object] | None = None,
    ) -> DownloadResult:
        """Download (or resume) ``url`` into the partial file ``part`` and verify it there.

        An existing ``part`` is resumed. Verification: size and checksums when known, then
        ``validate(part)`` (e.g. :func:`.verify.verify_product_zip`; it raises
        :class:`InvalidProductError`, its return value is kept in the result). On a mismatch the
        file is deleted and downloaded again from zero, at most ``policy.max_restarts`` times, then
        :class:`ChecksumMismatchError` / :class:`InvalidProductError` is raised (``part`` deleted).
        When the catalogue's checksum matched but ``validate`` refused the file, the server's copy
        itself is invalid: no restart. Running out of budget raises :class:`DownloadError` and
        keeps ``part`` for a later resume; refused credentials raise :class:`AuthError`, an
        unknown product :class:`ProductNotFoundError`.
        """
        part = Path(part)
        part.parent.mkdir(parents=True, exist_ok=True)
        name = name or part.name
        expected = {k.upper(): v.lower() for k, v in (checksums or {}).items() if v}
        budget = _Budget(name, self.policy, self.clock)
        while True:
            self._fetch(url, part, size, name, progress, budget)
            problem, digests = self._verify(part, size, expected)
            validation = None
            invalid = None
            if problem is None and validate is not None:
                try:
                    validation = validate(part)
                except InvalidProductError as exc:
                    problem = invalid = str(exc)
            if problem is None:
                got = part.stat().st_size
                logger.info("%s: verified %d bytes (%s)", name, got, ", ".join(sorted(digests)) or "size only")
                return DownloadResult(part, got, digests, budget.requests, budget.restarts, budget.elapsed, validation)
            part.unlink(missing_ok=True)
            budget.restarts += 1
            if invalid is not None and expected and digests and all(digests.get(a) == v for a, v in expected.items()):
                raise InvalidProductError(
                    f"{invalid}; the file matches the catalogue's checksum, so the server's copy itself is "
                    f"invalid ({redact_url(url)}); the partial file was deleted"
                )
            if budget.restarts > self.policy.max_restarts:
                cls = InvalidProductError if invalid is not None else ChecksumMismatchError
                said = problem if invalid is not None else f"{name}: {problem}"  # validate names the file
                raise cls(
                    f"{said} after {budget.restarts} complete download(s) from {redact_url(url)}; "
                    "the partial file was deleted"
                )
            budget.note("an invalid product" if invalid is not None else "a product failing its checksum")
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

    def _wait(self, budget: _Budget, retry_after: float | None, reason: str) -> None:
        """Count one failed attempt and wait before the next, or give up (budget spent)."""
        budget.failures += 1
        budget.note(_tally_key(reason))
        if budget.failures > self.policy.max_attempts:
            raise budget.give_up(
                f"giving up after {budget.failures} consecutive failed attempts without progress (last: {reason})"
            )
        if retry_after is not None:
            if retry_after > self.policy.max_retry_after:
                raise budget.give_up(
                    f"the server asks to retry after {retry_after:.0f} s (Retry-After), more than "
                    f"max_retry_after={self.policy.max_retry_after:.0f} s (last: {reason})"
                )
            delay = retry_after
        else:
            delay = min(self.policy.backoff * 2 ** (budget.failures - 1), self.policy.max_backoff)
        if budget.elapsed + delay > self.policy.max_seconds:
            raise budget.give_up(
                f"giving up: waiting {delay:.0f} s more would exceed the budget of {self.policy.max_seconds:.0f} s "
                f"(last: {reason})"
            )
        logger.warning("%s: %s; retry %d/%d in %.1f s", budget.name, reason, budget.failures, self.policy.max_attempts, delay)
        self.sleep(delay)

    def _chunks(self, resp: requests.Response) -> Iterator[bytes]:
        """The body as it arrives (at most ``chunk_size`` bytes a piece, without waiting to fill
        one), so that a server trickling bytes cannot keep a read going past the time budget."""
        read1 = getattr(resp.raw, "read1", None)
        if read1 is None:  # pragma: no cover - urllib3 < 2
            yield from resp.iter_content(self.chunk_size)
            return
        while data := read1(self.chunk_size):
            yield data

    def _bad_body(self, budget: _Budget, resp: requests.Response, what: str, safe_url: str, head: bytes) -> None:
        """The server sent something else than the product: retry within ``max_restarts``."""
        status = resp.status_code
        if _looks_like_login(resp, what, head):
            raise AuthError(
                f"{budget.name}: {safe_url} answered with a login page instead of the product "
                f"(HTTP {status}, {what}); the credentials were refused or are missing"
            )
        budget.restarts += 1
        if budget.restarts > self.policy.max_restarts:
            raise budget.give_up(
                f"{safe_url} answered {what} instead of the product (HTTP {status}, "
                f"{resp.headers.get('Content-Type') or 'no Content-Type'})"
            )
        self._wait(budget, retry_after_seconds(resp.headers.get("Retry-After")), f"HTTP {status} with {what}")

    def _fetch(self, url: str, part: Path, size: int | None, name: str, progress: ProgressCallback | None,
               budget: _Budget) -> None:
        """Bring ``part`` to completion (as far as the server says), within ``budget``."""
        total = size
        refresh = False
        refreshed_since_progress = False
        throttle: ProgressThrottle | None = None
        safe_url = redact_url(url)
        timeout = (self.policy.connect_timeout, self.policy.read_timeout)
        budget.failures = 0
        while True:
            offset = part.stat().st_size if part.exists() else 0
            if total is not None and offset > total:
                logger.warning("%s: partial file (%d B) is longer than the product (%d B); restarting", name, offset, total)
                part.unlink()
                offset = 0
            if total is not None and offset == total and total > 0:
                return
            budget.next_request()
            try:
                headers = self._headers(offset, refresh)
            except ArchiveError as exc:
                if not exc.transient:
                    raise
                self._wait(budget, None, str(exc))
                continue
            try:
                resp = self.session.get(url, headers=headers, stream=True, timeout=timeout)
            except _TRANSIENT as exc:
                self._wait(budget, None, f"{type(exc).__name__} connecting to {safe_url}")
                continue
            finally:
                refresh = False
            with resp:
                status = resp.status_code
                if status == 401 and self.auth is not None:
                    if refreshed_since_progress:
                        raise AuthError(f"{name}: {safe_url} refused a freshly refreshed token (HTTP 401)")
                    logger.info("%s: HTTP 401, refreshing the token and resuming at byte %d", name, offset)
                    budget.note("HTTP 401 (token refreshed)")
                    refresh = refreshed_since_progress = True
                    continue
                if status in (401, 403):
                    raise AuthError(
                        f"{name}: HTTP {status} from {safe_url} (credentials refused or missing)"
                        + _said(resp)
                    )
                if status in (404, 410):
                    raise ProductNotFoundError(f"{name}: HTTP {status} from {safe_url}: the server does not know this product" + _said(resp))
                if status in _RETRY_STATUS:
                    self._wait(budget, retry_after_seconds(resp.headers.get("Retry-After")), f"HTTP {status}")
                    continue
                if status == 416:
                    _, _, complete = _content_range(resp.headers.get("Content-Range"))
                    if complete is not None and complete == offset and (total is None or total == offset):
                        return
                    logger.warning("%s: HTTP 416 at byte %d (server size %s); restarting", name, offset, complete)
                    part.unlink(missing_ok=True)
                    self._wait(budget, None, "HTTP 416")
                    continue
                if status == 206:
                    first, _, complete = _content_range(resp.headers.get("Content-Range"))
                    if first != offset:
                        logger.warning("%s: 206 for byte %s, asked for %d; restarting", name, first, offset)
                        part.unlink(missing_ok=True)
                        self._wait(budget, None, "a wrong Content-Range")
                        continue
                    if total is None:
                        total = complete
                    mode = "ab"
                elif status == 200:
                    if offset:
                        budget.range_restarts += 1
                        budget.note("a 200 to a Range request")
                        if budget.range_restarts > self.policy.max_range_restarts:
                            raise budget.give_up(
                                f"{safe_url} ignores Range requests and did not deliver the whole product "
                                f"in {budget.range_restarts} downloads from zero"
                            )
                        logger.info("%s: server ignored the Range header; restarting from zero", name)
                        offset = 0
                    length = resp.headers.get("Content-Length")
                    if total is None and length and length.isdigit() and not _is_error_type(resp):
                        total = int(length)
                    mode = "wb"
                elif 400 <= status < 500:
                    raise DownloadError(f"{name}: HTTP {status} from {safe_url}" + _said(resp))
                else:
                    self._wait(budget, None, f"HTTP {status}")
                    continue

                chunks = self._chunks(resp)
                first_chunk = b""
                error: BaseException | None = None
                try:
                    first_chunk = next(chunks, b"")
                    # from zero the first bytes must be a zip's; a resumed range is checked only
                    # when the server labels it a document and it reads like one
                    if offset == 0 or (_is_error_type(resp) and _looks_like_document(first_chunk)):
                        while len(first_chunk) < 1024 and (more := next(chunks, b"")):
                            first_chunk += more
                            budget.check_time()
                        what = describe_content(first_chunk[: 64 * 1024], resp.headers.get("Content-Type"))
                        if what is not None:
                            self._bad_body(budget, resp, what, safe_url, first_chunk)
                            continue
                except _TRANSIENT as exc:
                    error = exc
                if throttle is None:
                    throttle = ProgressThrottle(
                        progress, name, total, every_percent=self.progress_every_percent,
                        every_seconds=self.progress_every_seconds, clock=self.clock,
                    )
                got = 0
                try:
                    with open(part, mode) as f:
                        if first_chunk:
                            f.write(first_chunk)
                            got += len(first_chunk)
                            throttle.update(offset + got)
                        if error is None:
                            for chunk in chunks:
                                f.write(chunk)
                                got += len(chunk)
                                throttle.update(offset + got)
                                budget.check_time()
                except _TRANSIENT as exc:
                    error = exc
                if got:
                    budget.failures = 0
                    refreshed_since_progress = False
                done = offset + got
                if error is None and (total is None or done >= total):
                    throttle.update(done, final=True)
                    return
                reason = (
                    f"{type(error).__name__} after {done} bytes" if error is not None
                    else f"body ended at byte {done} of {total}"
                )
                self._wait(budget, None, reason)


def _tally_key(reason: str) -> str:
    """A failure reason without byte counts, so that alike failures are counted together."""
    import re

    return re.sub(r"\b(after|at byte) \d+( bytes)?( of \d+)?", r"\1 N", reason).replace("at byte N", "early")


def _is_error_type(resp: requests.Response) -> bool:
    ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return ctype.startswith("text/") or "json" in ctype or ctype in ("application/xml", "application/problem+json")


def _looks_like_document(head: bytes) -> bool:
    return head.lstrip()[:1] in (b"<", b"{", b"[")


def _looks_like_login(resp: requests.Response, what: str, head: bytes) -> bool:
    """An identity provider's login form (after redirects), not a server's error page."""
    if not what.startswith("an HTML page"):
        return False
    path = urlsplit(resp.url or "").path.lower()
    if any(word in path for word in ("login", "oauth", "authorize", "signin", "sso")):
        return True
    return 'type="password"' in head.decode("utf-8", "replace").lower()


def _said(resp: requests.Response) -> str:
    """``: <what the body says>`` for an error answer (never the request's headers)."""
    try:
        body = next(resp.iter_content(64 * 1024), b"")
    except Exception:  # the body is only a courtesy
        return ""
    what = describe_content(body or b"", resp.headers.get("Content-Type")) if body else None
    return f": {what}" if what else ""
