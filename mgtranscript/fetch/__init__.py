"""Download layer: one cache, one URL builder, one HTTP client.

>>> from mgtranscript import fetch
>>> path = fetch.fetch(fetch.urls.gene_info_url())  # doctest: +SKIP
"""

from . import urls
from .cache import (
    Decompress,
    cache_dir,
    cache_entries,
    clear_cache,
    fetch,
    is_offline,
    list_remote_dir,
    mirror_base,
    read_meta,
    safe_extract_tar,
    sha256sum,
    verify_cache,
    verify_file,
)
from .http import RateLimiter, RetryPolicy

__all__ = [
    "urls", "fetch", "cache_dir", "cache_entries", "clear_cache", "verify_cache", "verify_file",
    "list_remote_dir", "read_meta", "safe_extract_tar", "sha256sum", "is_offline", "mirror_base",
    "Decompress", "RetryPolicy", "RateLimiter",
]
