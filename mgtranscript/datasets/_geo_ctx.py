"""The state of loading one GEO series: files fetched (with their provenance), URLs tried,
errors met and warnings raised, shared by :func:`~mgtranscript.datasets.geo` (``_geo``) and the
count-table loaders (``_geo_counts``)."""

from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import AccessionNotFound, FetchError, HostUnreachable, OfflineError
from ..fetch import fetch_read, https_from_ftp, mirror_base, read_meta


class _Ctx:
    """Collects provenance and warnings while loading one series."""

    def __init__(self, acc: str, progress: bool | None) -> None:
        self.acc = acc
        self.progress = progress
        self.files: dict[str, dict] = {}
        self.tried: list[str] = []
        self.errors: list[FetchError] = []
        self.warnings: list[str] = []

    def failed(self, url: str, exc: FetchError) -> None:
        self.tried.append(f"{url} ({type(exc).__name__})")
        self.errors.append(exc)

    def unreachable_error(self) -> FetchError | None:
        """One short error when every file failed because its host cannot be reached, else None."""
        if not self.errors or not all(isinstance(e, HostUnreachable) for e in self.errors):
            return None
        first = self.errors[0]
        return HostUnreachable(f"{self.acc}: none of its files could be obtained: {first}", url=first.url)

    def nothing_found_error(self) -> FetchError | None:
        """One short error when not a single file of the series exists where we looked: 404 on
        GEO (the accession does not exist), or absent from the mirror/cache when working
        offline (it may exist); else None."""
        if not self.errors or self.files or not all(isinstance(e, (AccessionNotFound, OfflineError))
                                                    for e in self.errors):
            return None
        mirror = mirror_base()
        if not all(isinstance(e, AccessionNotFound) for e in self.errors):
            if mirror:  # the mirror is set already: it may not have the series, or the series may not exist
                return OfflineError(
                    f"{self.acc}: none of its files is in the mirror {mirror} (tried {'; '.join(self.tried)}). "
                    f"The accession may not exist: check it (GEO series ids look like GSE126848; "
                    f"https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc={self.acc}; `mgtranscript datasets` "
                    "lists the cohorts this toolkit knows). If it exists, add its files to the mirror, or unset "
                    "MGTRANSCRIPT_MIRROR to download it from GEO.", url=self.errors[0].url)
            return OfflineError(
                f"{self.acc}: not available offline: none of its files is in the cache "
                f"(tried {'; '.join(self.tried)}). The accession may not exist (GEO series ids look like "
                "GSE126848); if it does, fetch it once with network access, or set MGTRANSCRIPT_MIRROR to a "
                "copy that has it.", url=self.errors[0].url)
        where = f"the mirror {mirror} has" if mirror else "GEO has"
        return AccessionNotFound(
            f"{self.acc}: no such series found: {where} none of its files (HTTP 404; tried "
            f"{'; '.join(self.tried)}). Check the accession (GEO series ids look like GSE126848; "
            "`mgtranscript datasets` lists the cohorts this toolkit knows)"
            + (", or add the series to the mirror (MGTRANSCRIPT_MIRROR), or unset MGTRANSCRIPT_MIRROR "
               "to fetch it from GEO." if mirror else "."), url=self.errors[0].url)

    def get(self, url: str, role: str, reader):
        """``reader(path)`` of the cached file of ``url`` (evicted and fetched again if damaged)."""
        got: list[Path] = []

        def read(path: Path):
            got[:] = [path]
            return reader(path)

        value = fetch_read(url, read, progress=self.progress)
        meta = read_meta(got[0])
        self.files[role] = {"url": https_from_ftp(url), "sha256": meta.get("sha256", ""),
                            "name": got[0].name}
        return value

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)
