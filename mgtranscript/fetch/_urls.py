"""The one place that builds public URLs.

Every URL mgtranscript contacts is built here, so that a change of NCBI, MSigDB or
GDC conventions is mended in one file. :func:`mirror_relpath` maps a public URL to
its place in a mirror laid out by URL (``HOST/PATH``), which is also the layout of
the cache directory.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from ..errors import MgTranscriptError

__all__ = [
    "KNOWN_HOSTS",
    "NCBI_HOSTS",
    "https_from_ftp",
    "geo_series_dir",
    "geo_series_matrix_url",
    "geo_matrix_dir_url",
    "geo_soft_url",
    "geo_suppl_dir_url",
    "geo_suppl_url",
    "geo_platform_dir",
    "gpl_annot_url",
    "gpl_full_soft_url",
    "geo_record_text_url",
    "ncbi_counts_url",
    "ncbi_counts_name",
    "ncbi_annot_url",
    "gene_info_url",
    "msigdb_url",
    "gdc_endpoint",
    "eutils_url",
    "mirror_relpath",
    "check_accession",
]

#: Hosts mgtranscript contacts on its own. Any other host must be passed explicitly.
KNOWN_HOSTS: frozenset[str] = frozenset(
    {
        "ftp.ncbi.nlm.nih.gov",
        "www.ncbi.nlm.nih.gov",
        "eutils.ncbi.nlm.nih.gov",
        "data.broadinstitute.org",
        "api.gdc.cancer.gov",
    }
)

#: Hosts subject to NCBI's request-rate policy (3/s, or 10/s with an API key).
NCBI_HOSTS: frozenset[str] = frozenset(
    {"ftp.ncbi.nlm.nih.gov", "www.ncbi.nlm.nih.gov", "eutils.ncbi.nlm.nih.gov"}
)

_GEO_ACC = re.compile(r"^(GSE|GSM|GPL|GDS)(\d+)$")


def check_accession(accession: str, prefixes: tuple[str, ...] = ("GSE",)) -> str:
    """Return ``accession`` upper-cased if it looks like a GEO accession, else raise.

    Raises
    ------
    MgTranscriptError
        If the accession is not of the form ``GSE123`` (or another allowed prefix).
    """
    acc = str(accession).strip().upper()
    m = _GEO_ACC.match(acc)
    if not m or m.group(1) not in prefixes:
        raise MgTranscriptError(
            f"{accession!r} is not a GEO accession of the form {prefixes[0]}<digits> "
            f"(for example {prefixes[0]}126848); check the spelling."
        )
    return acc


def https_from_ftp(url: str) -> str:
    """GEO files link to ``ftp://ftp.ncbi.nlm.nih.gov/...``; fetch them over https."""
    if url.startswith("ftp://"):
        return "https://" + url[len("ftp://") :]
    return url


def _stub(acc: str) -> str:
    """GSE126848 -> GSE126nnn; GSE781 -> GSEnnn."""
    m = _GEO_ACC.match(acc)
    if not m:
        raise MgTranscriptError(f"{acc!r} is not a GEO accession")
    prefix, digits = m.groups()
    return f"{prefix}{digits[:-3]}nnn"


def geo_series_dir(accession: str) -> str:
    acc = check_accession(accession)
    return f"https://ftp.ncbi.nlm.nih.gov/geo/series/{_stub(acc)}/{acc}"


def geo_matrix_dir_url(accession: str) -> str:
    return geo_series_dir(accession) + "/matrix/"


def geo_series_matrix_url(accession: str, platform: str | None = None) -> str:
    acc = check_accession(accession)
    name = f"{acc}-{platform}_series_matrix.txt.gz" if platform else f"{acc}_series_matrix.txt.gz"
    return geo_series_dir(acc) + "/matrix/" + name


def geo_soft_url(accession: str) -> str:
    acc = check_accession(accession)
    return geo_series_dir(acc) + f"/soft/{acc}_family.soft.gz"


def geo_suppl_dir_url(accession: str) -> str:
    return geo_series_dir(accession) + "/suppl/"


def geo_suppl_url(accession: str, name: str) -> str:
    return geo_suppl_dir_url(accession) + name


def geo_platform_dir(platform: str) -> str:
    gpl = check_accession(platform, ("GPL",))
    return f"https://ftp.ncbi.nlm.nih.gov/geo/platforms/{_stub(gpl)}/{gpl}"


def gpl_annot_url(platform: str) -> str:
    gpl = check_accession(platform, ("GPL",))
    return geo_platform_dir(gpl) + f"/annot/{gpl}.annot.gz"


def gpl_full_soft_url(platform: str) -> str:
    gpl = check_accession(platform, ("GPL",))
    return geo_platform_dir(gpl) + f"/soft/{gpl}_family.soft.gz"


def geo_record_text_url(accession: str) -> str:
    acc = check_accession(accession, ("GSE", "GSM", "GPL", "GDS"))
    return (
        "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?"
        f"targ=self&acc={acc}&form=text&view=full"
    )


def ncbi_counts_name(accession: str, kind: str = "raw_counts") -> str:
    acc = check_accession(accession)
    return f"{acc}_{kind}_GRCh38.p13_NCBI.tsv.gz"


def ncbi_counts_url(accession: str, name: str | None = None) -> str:
    acc = check_accession(accession)
    name = name or ncbi_counts_name(acc)
    return (
        "https://www.ncbi.nlm.nih.gov/geo/download/?"
        f"type=rnaseq_counts&acc={acc}&format=file&file={name}"
    )


def ncbi_annot_url(accession: str) -> str:
    return ncbi_counts_url(accession, "Human.GRCh38.p13.annot.tsv.gz")


def gene_info_url(group: str = "Mammalia", species: str = "Homo_sapiens") -> str:
    return f"https://ftp.ncbi.nlm.nih.gov/gene/DATA/GENE_INFO/{group}/{species}.gene_info.gz"


def msigdb_url(collection: str, version: str = "7.0") -> str:
    """URL of an MSigDB symbols GMT, e.g. ``msigdb_url("h.all", "7.0")``."""
    return (
        "https://data.broadinstitute.org/gsea-msigdb/msigdb/release/"
        f"{version}/{collection}.v{version}.symbols.gmt"
    )


def gdc_endpoint(name: str) -> str:
    """``files``, ``data``, ``cases`` ... of the GDC API."""
    return f"https://api.gdc.cancer.gov/{name}"


def eutils_url(tool: str) -> str:
    return f"https://eutils.ncbi.nlm.nih.gov/entrez/eutils/{tool}.fcgi"


def mirror_relpath(url: str) -> str:
    """Relative path of ``url`` in a mirror (or the cache) laid out by URL.

    ``https://HOST/PATH`` lies at ``HOST/PATH``. GEO's NCBI-generated counts, whose
    public URL is a query, lie at ``www.ncbi.nlm.nih.gov/geo/download/ACC/NAME``.
    """
    parts = urlsplit(https_from_ftp(url))
    host = parts.hostname or ""
    path = parts.path.lstrip("/")
    if host == "www.ncbi.nlm.nih.gov" and parts.path.rstrip("/") == "/geo/download":
        q = parse_qs(parts.query)
        acc = q.get("acc", [""])[0]
        name = q.get("file", [""])[0]
        if acc and name:
            return f"{host}/geo/download/{acc}/{name}"
    if parts.query:
        # other queries (acc.cgi, eutils) are cached under a name derived from the query
        safe = re.sub(r"[^A-Za-z0-9._=-]+", "_", parts.query)
        path = f"{path}__{safe}"
    rel = f"{host}/{path}"
    if ".." in rel.split("/"):
        raise MgTranscriptError(f"refusing URL with '..' in its path: {url}")
    return rel
