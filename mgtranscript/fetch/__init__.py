"""Download layer: one cache, one URL builder, one HTTP client.

Everything mgtranscript downloads goes through :func:`fetch`, which caches files at
``$MGTRANSCRIPT_CACHE/HOST/PATH``, verifies them before they become visible,
resumes interrupted downloads, retries politely and honours
``MGTRANSCRIPT_MIRROR`` / ``MGTRANSCRIPT_OFFLINE`` (see :mod:`.cache`).

>>> from mgtranscript import fetch
>>> path = fetch.fetch(fetch.urls.gene_info_url())  # doctest: +SKIP
"""

from . import urls
from .cache import (
    Decompress,
    cache_dir,
    cache_entries,
    clean_partial,
    clear_cache,
    fetch,
    fetch_read,
    integrity_problem,
    is_offline,
    list_remote_dir,
    mirror_base,
    partial_path,
    read_meta,
    remove,
    safe_extract_tar,
    safe_extract_zip,
    sha256sum,
    store,
    verify_cache,
    verify_file,
)
from .http import RateLimiter, RetryPolicy, forget_unreachable

__all__ = [
    "urls", "fetch", "fetch_read", "integrity_problem", "forget_unreachable", "store", "remove",
    "partial_path", "cache_dir", "cache_entries",
    "clean_partial", "clear_cache", "verify_cache", "verify_file", "list_remote_dir", "read_meta",
    "safe_extract_tar", "safe_extract_zip", "sha256sum", "is_offline", "mirror_base",
    "Decompress", "RetryPolicy", "RateLimiter",
]
