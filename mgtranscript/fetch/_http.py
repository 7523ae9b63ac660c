"""The one place that talks HTTP.

Retries with exponential backoff on timeouts, dropped connections and 5xx; honours
``Retry-After`` on 429 (and 503); never retries 404 (raises
:class:`~mgtranscript.errors.AccessionNotFound` at once); limits requests to NCBI
hosts to 3/s, or 10/s with an API key (``settings.ncbi_api_key``, ``NCBI_API_KEY``); resumes interrupted downloads
with an HTTP ``Range`` request where the server allows it.

Without a network, retrying is pointless: a host whose name does not resolve, or
that refuses the connection (or whose network is unreachable), is not retried.
The first such failure marks the host unreachable for the rest of the process:
later requests to it fail at once with :class:`~mgtranscript.errors.HostUnreachable`,
without touching the network, and one warning says how to work offline
(``settings.mirror``, ``settings.offline``). :func:`forget_unreachable`
clears that memory (e.g. in a notebook after the network is back).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3

from .._settings import settings
from ..errors import AccessionNotFound, FetchError, HostUnreachable
from ._urls import NCBI_HOSTS

logger = logging.getLogger(__name__)

__all__ = ["RetryPolicy", "RateLimiter", "request", "download_to", "USER_AGENT", "forget_unreachable",
           "unreachable_hosts", "retry_after", "pause"]

#: How this module waits between tries (tests replace it to record the delays decided).
_sleep = time.sleep

USER_AGENT = "mgtranscript (+https://pypi.org/project/mgtranscript)"


class RetryPolicy:
    """How often and how patiently to retry.

    Parameters
    ----------
    attempts
        Total number of tries (first try included; default ``settings.retries``).
    backoff
        Base delay in seconds; try ``k`` waits ``backoff * 2**k`` (capped at ``max_delay``;
        default ``settings.backoff``).
    max_delay
        Upper bound of one wait, also applied to ``Retry-After`` (default ``settings.max_wait``).
    timeout
        ``(connect, read)`` timeout in seconds for each try.
    """

    def __init__(
        self,
        attempts: int | None = None,
        backoff: float | None = None,
        max_delay: float | None = None,
        timeout: tuple[float, float] = (15.0, 120.0),
    ) -> None:
        self.attempts = max(1, attempts if attempts is not None else settings.retries)
        self.backoff = backoff if backoff is not None else settings.backoff
        self.max_delay = max_delay if max_delay is not None else settings.max_wait
        self.timeout = timeout

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        return min(self.max_delay, self.backoff * (2**attempt))


class RateLimiter:
    """Space requests to a host group at least ``1/rate`` seconds apart (thread-safe).

    Each call to :meth:`wait` books the next free slot under a lock (so concurrent
    callers get distinct slots ``interval`` apart) and then sleeps until its slot.

    Parameters
    ----------
    rate
        Requests per second.
    clock, sleep
        The time source and the sleeper (default :func:`time.monotonic` and
        :func:`time.sleep`); tests pass a fake pair to check the schedule granted.
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next: float | None = None

    def reserve(self) -> float:
        """Book the next free slot and return it (a time on ``clock``); does not wait."""
        with self._lock:
            now = self._clock()
            slot = now if self._next is None else max(now, self._next)
            self._next = slot + self.interval
            return slot

    def wait(self) -> float:
        """Wait for the next free slot; return the slot granted."""
        slot = self.reserve()
        delay = slot - self._clock()
        if delay > 0:
            self._sleep(delay)
        return slot


_ncbi_limiter: RateLimiter | None = None
_ncbi_key_state: str | None = None
_session_local = threading.local()


def ncbi_limiter() -> RateLimiter:
    """The limiter for NCBI hosts: 3 requests/s, or 10/s with ``settings.ncbi_api_key``."""
    global _ncbi_limiter, _ncbi_key_state
    key = settings.ncbi_api_key or ""
    if _ncbi_limiter is None or key != _ncbi_key_state:
        _ncbi_limiter = RateLimiter(10.0 if key else 3.0)
        _ncbi_key_state = key
    return _ncbi_limiter


def _session() -> requests.Session:
    """This thread's HTTP session; a forked process starts its own (it must not share the parent's
    pooled connections: two processes reading one socket get each other's responses)."""
    s = getattr(_session_local, "session", None)
    if s is None or getattr(_session_local, "pid", None) != os.getpid():
        s = requests.Session()
        s.headers["User-Agent"] = USER_AGENT
        _session_local.session, _session_local.pid = s, os.getpid()
    return s


def retry_after(resp: requests.Response) -> float | None:
    """Seconds a 429/503 answer asks to wait (its ``Retry-After`` header), or None."""
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


def rate_limited(url: str) -> bool:
    """Whether requests to ``url`` fall under NCBI's rate policy.

    Decided by the host actually contacted: a mirror (``settings.mirror``) is
    not NCBI and is not slowed down.
    """
    return (urlsplit(url).hostname or "") in NCBI_HOSTS


_unreachable: dict[str, str] = {}
_unreachable_lock = threading.Lock()

#: errno values meaning "there is no route to this host at all" (not worth a retry)
_NO_ROUTE = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _no_route_reason(exc: BaseException) -> str | None:
    """Why ``exc`` means the host cannot be reached at all (DNS, refused), else None.

    Walks the chain requests -> urllib3 -> socket (``args``, ``reason``, ``__cause__``,
    ``__context__``) looking for a name-resolution failure or ECONNREFUSED /
    ENETUNREACH / EHOSTUNREACH. Timeouts and resets are not such reasons.
    """
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        e = todo.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (requests.Timeout, socket.timeout, TimeoutError)):
            return None
        if isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError":
            return "its name does not resolve (no network or DNS?)"
        if isinstance(e, OSError) and e.errno in _NO_ROUTE:
            return {errno.ECONNREFUSED: "it refused the connection",
                    errno.ENETUNREACH: "the network is unreachable",
                    errno.EHOSTUNREACH: "there is no route to it"}[e.errno]
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        todo.extend(x for x in (getattr(e, "reason", None), e.__cause__, e.__context__) if x is not None)
    return None


def _unreachable_message(origin: str, reason: str, name: str) -> str:
    from ._cache import mirror_base

    base = mirror_base()
    if base and base.startswith(("http://", "https://")) and _origin(base) == origin:
        return (f"cannot reach the mirror {base} ({reason}) for {name}; start it or fix "
                "MGTRANSCRIPT_MIRROR (a directory works too), or set MGTRANSCRIPT_OFFLINE=1 to "
                "use cached files only.")
    return (f"cannot reach {origin} ({reason}) for {name}; not contacting it again in this run. "
            "To work offline set MGTRANSCRIPT_MIRROR to a mirror folder, or MGTRANSCRIPT_OFFLINE=1 "
            "to use cached files only.")


def unreachable_hosts() -> dict[str, str]:
    """Origins (``scheme://host[:port]``) found unreachable in this process, with the reason."""
    with _unreachable_lock:
        return dict(_unreachable)


def forget_unreachable() -> None:
    """Contact hosts found unreachable earlier again (e.g. after the network came back)."""
    with _unreachable_lock:
        _unreachable.clear()


def _check_reachable(url: str, name: str) -> None:
    origin = _origin(url)
    with _unreachable_lock:
        reason = _unreachable.get(origin)
    if reason is not None:
        raise HostUnreachable(_unreachable_message(origin, reason, name), url=name)


def _mark_unreachable(url: str, reason: str, name: str) -> HostUnreachable:
    origin = _origin(url)
    msg = _unreachable_message(origin, reason, name)
    with _unreachable_lock:
        first = origin not in _unreachable
        _unreachable[origin] = reason
    if first:
        logger.warning("%s", msg)
    return HostUnreachable(msg, url=name)


def pause(seconds: float) -> None:
    """Wait ``seconds`` before the next try (through ``_sleep``, which tests replace)."""
    _sleep(seconds)


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
    mirror); it is named in errors. Rate limiting follows the host of ``url``.

    Raises
    ------
    AccessionNotFound
        On 404 or 410 (never retried).
    HostUnreachable
        The host's name does not resolve or it refuses connections (not retried), now
        or earlier in this process.
    FetchError
        When every try failed (timeout, dropped connection, 5xx, 429) or on another 4xx.
    """
    policy = policy or RetryPolicy()
    name = public_url or url
    _check_reachable(url, name)
    ncbi = rate_limited(url)
    params = dict(kwargs.pop("params", None) or {})
    key = settings.ncbi_api_key
    if ncbi and key and "eutils" in (urlsplit(url).hostname or ""):
        params.setdefault("api_key", key)
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
        except (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError) as exc:
            reason = _no_route_reason(exc)
            if reason is not None:
                raise _mark_unreachable(url, reason, name) from None
            last = f"{type(exc).__name__}: {exc}"
        else:
            if resp.status_code in ok_status:
                return resp
            if resp.status_code in (404, 410):
                resp.close()
                raise AccessionNotFound(
                    f"{name} does not exist (HTTP {resp.status_code}). Check the accession "
                    "or file name (GEO lists a series' files in its matrix/ and suppl/ folders).",
                    url=name,
                )
            last = f"HTTP {resp.status_code} {resp.reason}"
            if resp.status_code in (429, 503):
                wait = retry_after(resp)
            retryable = resp.status_code in (408, 425, 429) or resp.status_code >= 500
            if not retryable:
                try:
                    detail = resp.text[:300].strip()
                except (requests.RequestException, UnicodeDecodeError):
                    detail = ""
                resp.close()
                raise FetchError(
                    f"{name}: server answered {last}; not retried (the request itself is "
                    f"refused){': ' + detail if detail else ''}.", url=name,
                )
            resp.close()
        if attempt + 1 < policy.attempts:
            delay = min(policy.max_delay, wait) if wait is not None else policy.delay(attempt)
            logger.warning("%s: %s; retry %d/%d in %.1fs", name, last, attempt + 1, policy.attempts - 1, delay)
            _sleep(delay)
    raise FetchError(
        f"{name}: giving up after {policy.attempts} tries ({last}). Check the network, "
        "or set MGTRANSCRIPT_MIRROR to a local mirror, or retry later.",
        url=name,
    )


def _content_range_start(value: str | None) -> int | None:
    """``bytes 100-199/200`` -> 100."""
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None


def _body_chunks(resp: requests.Response, size: int = 1 << 16):
    """The raw body as it arrives (bytes exactly as sent, no content decoding).

    ``read1`` hands over whatever has arrived, so the bytes received before a
    connection drop are kept and the resume starts right after them.
    """
    raw = resp.raw
    if hasattr(raw, "read1"):
        while True:
            chunk = raw.read1(size, decode_content=False)
            if not chunk:
                return
            yield chunk
    else:  # pragma: no cover - old urllib3
        yield from resp.iter_content(chunk_size=size)


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

    A connection dropped mid-body is retried; when the server honours ``Range``
    (answers 206 with a matching ``Content-Range``) the transfer continues where it
    stopped, otherwise it restarts cleanly from byte 0. Only GET is resumable; other
    methods always start from scratch. Completeness beyond ``Content-Length`` is
    checked by the caller (gzip integrity, hashes).

    Raises
    ------
    AccessionNotFound, FetchError
        As :func:`request`; ``FetchError`` also when the body kept being cut off.
    """
    policy = policy or RetryPolicy()
    name = public_url or url
    resumable = method.upper() == "GET"
    extra_headers = kwargs.pop("headers", None) or {}
    for attempt in range(policy.attempts):
        have = part.stat().st_size if (resumable and part.exists()) else 0
        headers = {"Accept-Encoding": "identity"}
        headers.update(extra_headers)
        if have:
            headers["Range"] = f"bytes={have}-"
        resp = request(method, url, public_url=public_url, policy=policy, stream=True,
                       headers=headers, ok_status=(200, 206, 416) if have else (200,), **kwargs)
        try:
            if resp.status_code == 416:
                # nothing after byte `have`: the part is complete (or longer than the
                # file, which verification then rejects and the caller restarts)
                return
            if resp.status_code == 206 and _content_range_start(resp.headers.get("Content-Range")) != have:
                logger.info("%s: server answered Range with an unexpected Content-Range; restarting", name)
                resp.close()
                part.unlink(missing_ok=True)
                continue
            if resp.status_code == 200 and have:
                logger.info("%s: server ignored Range; restarting the download", name)
                have = 0
            mode = "ab" if resp.status_code == 206 else "wb"
            length = resp.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            got = have
            with open(part, mode) as fh:
                for chunk in _body_chunks(resp):
                    fh.write(chunk)
                    got += len(chunk)
                    if progress:
                        progress(got, total)
            if total is not None and got < total:
                raise requests.ConnectionError(f"connection closed after {got} of {total} bytes")
            return
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                urllib3.exceptions.HTTPError) as exc:
            more = attempt + 1 < policy.attempts
            logger.warning("%s: transfer interrupted (%s)%s", name, exc,
                           f"; resuming ({attempt + 1}/{policy.attempts - 1})" if more else "")
            if more:
                _sleep(policy.delay(attempt))
        finally:
            resp.close()
    raise FetchError(
        f"{name}: the transfer kept being interrupted ({policy.attempts} tries). Check the "
        "network and call again: the partial file is kept and the next call resumes it.",
        url=name,
    )
