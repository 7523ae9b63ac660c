"""The one place that talks HTTP.

Retries with exponential backoff on connection errors, timeouts and 5xx; honours
``Retry-After`` on 429 (and 503); never retries 404 (raises
:class:`~mgtranscript.errors.AccessionNotFound` at once); limits requests to NCBI
hosts to 3/s, or 10/s when ``NCBI_API_KEY`` is set; resumes interrupted downloads
with an HTTP ``Range`` request where the server allows it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests

from ..errors import AccessionNotFound, FetchError
from .urls import NCBI_HOSTS

logger = logging.getLogger(__name__)

__all__ = ["RetryPolicy", "RateLimiter", "request", "download_to", "USER_AGENT"]

USER_AGENT = "mgtranscript (+https://pypi.org/project/mgtranscript)"


class RetryPolicy:
    """How often and how patiently to retry.

    Parameters
    ----------
    attempts
        Total number of tries (first try included).
    backoff
        Base delay in seconds; try ``k`` waits ``backoff * 2**k`` (capped at ``max_delay``).
    max_delay
        Upper bound of one wait, also applied to ``Retry-After``.
    timeout
        ``(connect, read)`` timeout in seconds for each try.
    """

    def __init__(
        self,
        attempts: int | None = None,
        backoff: float | None = None,
        max_delay: float = 60.0,
        timeout: tuple[float, float] = (15.0, 120.0),
    ) -> None:
        self.attempts = attempts if attempts is not None else int(os.environ.get("MGTRANSCRIPT_RETRIES", "5"))
        self.backoff = backoff if backoff is not None else float(os.environ.get("MGTRANSCRIPT_BACKOFF", "1.0"))
        self.max_delay = max_delay
        self.timeout = timeout

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.backoff * (2**attempt))


class RateLimiter:
    """Space requests to a host group at least ``1/rate`` seconds apart (thread-safe)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                time.sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


_ncbi_limiter: RateLimiter | None = None
_ncbi_key_state: str | None = None
_session_local = threading.local()


def ncbi_limiter() -> RateLimiter:
    """The limiter for NCBI hosts: 3 requests/s, or 10/s with ``NCBI_API_KEY``."""
    global _ncbi_limiter, _ncbi_key_state
    key = os.environ.get("NCBI_API_KEY", "")
    if _ncbi_limiter is None or key != _ncbi_key_state:
        _ncbi_limiter = RateLimiter(10.0 if key else 3.0)
        _ncbi_key_state = key
    return _ncbi_limiter


def _session() -> requests.Session:
    s = getattr(_session_local, "session", None)
    if s is None:
        s = requests.Session()
        s.headers["User-Agent"] = USER_AGENT
        _session_local.session = s
    return s


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _is_ncbi(url: str, public_url: str | None) -> bool:
    host = urlsplit(public_url or url).hostname or ""
    return host in NCBI_HOSTS


def request(
    method: str,
    url: str,
    *,
    public_url: str | None = None,
    policy: RetryPolicy | None = None,
    stream: bool = False,
    headers: dict[str, str] | None = None,
    ok_status: tuple[int, ...] = (200, 206),
    **kwargs,
) -> requests.Response:
    """Send one request with retries; return a response whose status is in ``ok_status``.

    ``public_url`` is the public URL the request stands for (when ``url`` points at a
    mirror); it decides rate limiting and is named in errors.

    Raises
    ------
    AccessionNotFound
        On 404 or 410 (never retried).
    FetchError
        When every try failed (connection error, timeout, 5xx, 429) or on another 4xx.
    """
    policy = policy or RetryPolicy()
    name = public_url or url
    ncbi = _is_ncbi(url, public_url)
    params = dict(kwargs.pop("params", None) or {})
    if ncbi and os.environ.get("NCBI_API_KEY") and "eutils" in (urlsplit(name).hostname or ""):
        params.setdefault("api_key", os.environ["NCBI_API_KEY"])
    last: str = ""
    for attempt in range(policy.attempts):
        if ncbi:
            ncbi_limiter().wait()
        wait: float | None = None
        try:
            resp = _session().request(
                method, url, stream=stream, headers=headers, timeout=policy.timeout,
                params=params or None, **kwargs,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if resp.status_code in ok_status:
                return resp
            if resp.status_code in (404, 410):
                resp.close()
                raise AccessionNotFound(
                    f"{name} does not exist (HTTP {resp.status_code}). Check the accession "
                    "or file name; GEO lists a series' files at its matrix/ and suppl/ folders.",
                    url=name,
                )
            last = f"HTTP {resp.status_code} {resp.reason}"
            if resp.status_code in (429, 503):
                wait = _retry_after(resp)
            retryable = resp.status_code == 429 or resp.status_code >= 500
            resp.close()
            if not retryable:
                raise FetchError(f"{name}: server answered {last}; not retried.", url=name)
        if attempt + 1 < policy.attempts:
            delay = min(policy.max_delay, wait) if wait is not None else policy.delay(attempt)
            logger.warning("%s: %s; retry %d/%d in %.1fs", name, last, attempt + 1, policy.attempts - 1, delay)
            time.sleep(delay)
    raise FetchError(
        f"{name}: giving up after {policy.attempts} tries ({last}). Check the network, "
        "or set MGTRANSCRIPT_MIRROR to a local mirror, or retry later.",
        url=name,
    )


def download_to(
    url: str,
    part: Path,
    *,
    public_url: str | None = None,
    policy: RetryPolicy | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    method: str = "GET",
    **kwargs,
) -> None:
    """Stream ``url`` into ``part``, resuming from its current size with ``Range``.

    A connection dropped mid-body is retried; when the server honours ``Range`` the
    transfer continues where it stopped, otherwise it restarts cleanly.
    """
    policy = policy or RetryPolicy()
    name = public_url or url
    for attempt in range(policy.attempts):
        have = part.stat().st_size if part.exists() else 0
        headers = {"Accept-Encoding": "identity"}
        if have and method == "GET":
            headers["Range"] = f"bytes={have}-"
        resp = request(method, url, public_url=public_url, policy=policy, stream=True,
                       headers=headers, ok_status=(200, 206, 416), **kwargs)
        try:
            if resp.status_code == 416:  # we already have everything
                return
            if resp.status_code == 200 and have:
                logger.info("%s: server ignored Range; restarting download", name)
                have = 0
            mode = "ab" if resp.status_code == 206 else "wb"
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            got = have
            with open(part, mode) as fh:
                for chunk in resp.iter_content(chunk_size=1 << 16):
                    fh.write(chunk)
                    got += len(chunk)
                    if progress:
                        progress(got, total)
            if total is not None and got < total:
                raise requests.ConnectionError(f"connection closed after {got} of {total} bytes")
            return
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            logger.warning("%s: transfer interrupted (%s); resuming (%d/%d)", name, exc, attempt + 1, policy.attempts - 1)
            if attempt + 1 < policy.attempts:
                time.sleep(policy.delay(attempt))
        finally:
            resp.close()
    raise FetchError(
        f"{name}: transfer kept being interrupted after {policy.attempts} tries; the partial "
        "file is kept and the next call resumes it.",
        url=name,
    )
