"""Download layer: one cache, one URL builder, one HTTP client.

Everything mgtranscript downloads goes through :func:`fetch`, which caches files at
``settings.cache_dir/HOST/PATH``, verifies them before they become visible,
resumes interrupted downloads, retries politely and honours ``settings.mirror`` /
``settings.offline`` (:data:`mgtranscript.settings`; see :mod:`.cache`).

Modules: :mod:`.urls` (URL builders, known hosts), :mod:`.http` (the HTTP client:
retries, rate limits, resume), :mod:`.cache` (cache layout, verification,
metadata), :mod:`.download` (:func:`fetch` and friends), :mod:`.inventory` (list,
verify, clear), :mod:`.locks` (per-file locks), :mod:`.archives` (safe extraction).

>>> from mgtranscript import fetch
>>> path = fetch.fetch(fetch.urls.gene_info_url())  # doctest: +SKIP
"""

from . import urls
from .archives import safe_extract_tar, safe_extract_zip
from .cache import (
    Decompress,
    cache_dir,
    integrity_problem,
    is_offline,
    mirror_base,
    partial_path,
    read_meta,
    sha256sum,
    verify_file,
)
from .download import fetch, fetch_read, list_remote_dir, store
from .http import RateLimiter, RetryPolicy, forget_unreachable
from .inventory import cache_entries, clear_cache, remove, verify_cache
from .locks import clean_partial

__all__ = [
    "urls", "fetch", "fetch_read", "integrity_problem", "forget_unreachable", "store", "remove",
    "partial_path", "cache_dir", "cache_entries",
    "clean_partial", "clear_cache", "verify_cache", "verify_file", "list_remote_dir", "read_meta",
    "safe_extract_tar", "safe_extract_zip", "sha256sum", "is_offline", "mirror_base",
    "Decompress", "RetryPolicy", "RateLimiter",
]
