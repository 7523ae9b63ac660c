"""Download layer: one cache, one URL builder, one HTTP client.

Everything mgtranscript downloads goes through :func:`fetch`, which caches files at
``settings.cache_dir/HOST/PATH``, verifies them before they become visible,
resumes interrupted downloads, retries politely and honours ``settings.mirror`` /
``settings.offline`` (:data:`mgtranscript.settings`).

The names below are the whole public surface; the modules behind them are private:
``_urls`` (URL builders, known hosts), ``_http`` (the HTTP client: retries, rate limits,
resume), ``_cache`` (cache layout, verification, metadata), ``_download``
(:func:`fetch` and friends), ``_inventory`` (list, verify, clear), ``_locks`` (per-file
locks) and ``_archives`` (safe extraction).

>>> from mgtranscript import fetch
>>> path = fetch.fetch(fetch.gene_info_url())  # doctest: +SKIP
"""

from ._archives import safe_extract_tar, safe_extract_zip
from ._cache import (
    Decompress,
    cache_dir,
    complete_inputs,
    integrity_problem,
    is_offline,
    mirror_base,
    partial_path,
    read_meta,
    sha256sum,
    verify_file,
)
from ._download import fetch, fetch_read, list_remote_dir, progress_enabled, store
from ._http import (
    USER_AGENT,
    RateLimiter,
    RetryPolicy,
    download_to,
    forget_unreachable,
    pause,
    request,
    retry_after,
    unreachable_hosts,
)
from ._inventory import cache_entries, clear_cache, remove, verify_cache
from ._locks import clean_partial
from ._urls import (
    KNOWN_HOSTS,
    NCBI_HOSTS,
    check_accession,
    eutils_url,
    gdc_endpoint,
    gene_info_url,
    geo_matrix_dir_url,
    geo_platform_dir,
    geo_record_text_url,
    geo_series_dir,
    geo_series_matrix_url,
    geo_soft_url,
    geo_suppl_dir_url,
    geo_suppl_url,
    gpl_annot_url,
    gpl_full_soft_url,
    https_from_ftp,
    mirror_relpath,
    msigdb_url,
    ncbi_annot_url,
    ncbi_counts_name,
    ncbi_counts_url,
)

__all__ = [
    # downloads and the cache
    "fetch", "fetch_read", "store", "list_remote_dir", "progress_enabled",
    "cache_dir", "cache_entries", "partial_path", "read_meta", "remove", "clean_partial", "clear_cache",
    "verify_cache", "verify_file", "integrity_problem", "sha256sum", "complete_inputs", "is_offline", "mirror_base",
    "Decompress", "safe_extract_tar", "safe_extract_zip",
    # the HTTP client
    "request", "download_to", "retry_after", "pause", "RetryPolicy", "RateLimiter", "forget_unreachable",
    "unreachable_hosts", "USER_AGENT",
    # URL builders
    "KNOWN_HOSTS", "NCBI_HOSTS", "check_accession", "https_from_ftp", "mirror_relpath",
    "geo_series_dir", "geo_series_matrix_url", "geo_matrix_dir_url", "geo_soft_url", "geo_suppl_dir_url",
    "geo_suppl_url", "geo_platform_dir", "gpl_annot_url", "gpl_full_soft_url", "geo_record_text_url",
    "ncbi_counts_url", "ncbi_counts_name", "ncbi_annot_url", "gene_info_url", "msigdb_url",
    "gdc_endpoint", "eutils_url",
]
