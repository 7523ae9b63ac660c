"""GDC API queries for :mod:`mgtranscript.datasets.gdc`: files, cases, release, paging.

See :mod:`mgtranscript.datasets.gdc` for what is asked and why (only fields today's
API has; stable ``sort`` and a ``pagination.total`` check for paged listings; the
``warnings`` of every answer logged). Downloads live in
:mod:`mgtranscript.datasets._gdc_download`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
from pathlib import Path

import pandas as pd

from .._settings import settings
from ..errors import (
    AccessionNotFound,
    DataFormatError,
    FetchError,
    OfflineError,
)
from ..fetch import (
    cache_dir,
    fetch,
    gdc_endpoint,
    is_offline,
    mirror_base,
    read_meta,
    remove,
    store,
)
from ._gdc_clinical import CLINICAL_EXPAND, CLINICAL_FIELDS
from ._gdc_download import MAX_BATCH_BYTES, download_files

logger = logging.getLogger(__name__)

__all__ = [
    "FILE_FIELDS",
    "GDC_URL_ENV",
    "MAX_BATCH_BYTES",
    "PAGE_SIZE",
    "SAMPLE_TYPE_CODES",
    "data_release",
    "download_files",
    "fetch_clinical",
    "query_files",
    "sample_code",
    "sample_type_code",
]

#: The environment variable giving the default of ``settings.gdc_url`` (named in messages).
GDC_URL_ENV = "MGTRANSCRIPT_GDC_URL"
#: Records per page of a files/cases query.
PAGE_SIZE = 500
_CACHE_HOST = "api.gdc.cancer.gov"
#: ``fields`` of the ``/files`` query: only fields of today's API. ``cases.samples.
#: sample_type_id`` is gone (Data Dictionary 3.4.4; API 8.3.0, 2026-03-16): the sample
#: type code comes from the barcode, checked against ``sample_type``. The aliquot
#: barcode is the file's own sample of record (as TCGAbiolinks reads it).
FILE_FIELDS = ["file_id", "file_name", "md5sum", "file_size", "cases.case_id", "cases.submitter_id",
               "cases.samples.submitter_id", "cases.samples.sample_type",
               "cases.samples.portions.analytes.aliquots.submitter_id"]
_SORT = {"files": "file_id:asc", "cases": "submitter_id:asc"}
_KEY = {"files": "file_id", "cases": "submitter_id"}
#: GDC sample type code -> harmonised condition; other codes stay "unlabelled".
CONDITION_BY_CODE = {"01": "hcc_tumour", "11": "hcc_nontumour", "02": "hcc_recurrent"}
UNLABELLED = "unlabelled"
#: GDC ``sample_type`` text -> TCGA sample type code (the GDC's code table).
SAMPLE_TYPE_CODES = {
    "primary tumor": "01", "recurrent tumor": "02", "primary blood derived cancer - peripheral blood": "03",
    "recurrent blood derived cancer - bone marrow": "04", "additional - new primary": "05",
    "metastatic": "06", "additional metastatic": "07", "human tumor original cells": "08",
    "primary blood derived cancer - bone marrow": "09", "blood derived normal": "10",
    "solid tissue normal": "11", "buccal cell normal": "12", "ebv immortalized normal": "13",
    "bone marrow normal": "14", "control analyte": "20",
}


def _endpoint(name: str) -> tuple[str, bool]:
    """(URL, explicit) of a GDC endpoint, honouring ``settings.gdc_url`` (``MGTRANSCRIPT_GDC_URL``)."""
    base = settings.gdc_url
    if base:
        return base.rstrip("/") + "/" + name, True
    return gdc_endpoint(name), False


def _query_rel(name: str, body: dict) -> str:
    key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]
    return f"{_CACHE_HOST}/{name}/query-{key}.json"


def _api_warnings(name: str, out: dict) -> list[str]:
    """The non-empty ``warnings`` of a GDC answer, as ``"key: text"`` lines (logged)."""
    w = out.get("warnings")
    if not w:
        return []
    items = w.items() if isinstance(w, dict) else enumerate(w if isinstance(w, list) else [w])
    lines = [f"{k}: {v}" if isinstance(k, str) else str(v) for k, v in items if v not in (None, "", [], {})]
    for line in lines:
        logger.warning("GDC /%s answered with a warning: %s", name, line)
    return lines


def _post_json(name: str, body: dict, *, refresh: bool = False, what: str = "this GDC query") -> dict:
    """POST a JSON query to a GDC endpoint; the answer is cached by the body's hash.

    The answer's ``warnings`` are logged and returned under ``"_warnings"``, the cache
    path under ``"_relpath"``.
    """
    url, explicit = _endpoint(name)
    rel = _query_rel(name, body)
    if mirror_base() and not explicit and (refresh or not (cache_dir() / rel).is_file()):
        # a mirror laid out by URL cannot answer API queries (POST); with a mirror set the
        # public hosts are not contacted, so say so at once instead of retrying
        raise OfflineError(
            f"{what} needs the GDC API ({_CACHE_HOST}), which a mirror cannot serve; set "
            f"{GDC_URL_ENV} or unset MGTRANSCRIPT_MIRROR.\n"
            f"MGTRANSCRIPT_MIRROR={mirror_base()} is set and {url} (this query) is not cached. "
            f"Unset MGTRANSCRIPT_MIRROR to query the GDC, or set {GDC_URL_ENV} to a GDC API "
            "you can reach.",
            url=url,
        )
    for attempt in range(2):
        path = fetch(url, method="POST", json_body=body, relpath=rel, explicit=explicit,
                     force=refresh or attempt > 0, progress=False)
        try:
            out = json.loads(path.read_text())
            if isinstance(out, dict) and isinstance(out.get("data"), dict):
                out["_warnings"] = _api_warnings(name, out)
                out["_relpath"] = rel
                return out
        except (ValueError, UnicodeDecodeError):
            pass
        remove(rel)
    raise DataFormatError(
        f"{url} answered with something that is not a GDC JSON response; retry later or "
        f"check {GDC_URL_ENV}."
    )


def _filters(*pairs: tuple[str, list]) -> dict:
    return {"op": "and", "content": [
        {"op": "in", "content": {"field": field, "value": list(values)}} for field, values in pairs
    ]}


def _hit_key(name: str, hit: dict) -> str | None:
    value = hit.get(_KEY[name]) or (hit.get("id") if name == "files" else None)
    return str(value) if value else None


def _record(record: list | None, name: str, body: dict, pages: list[dict], n: int) -> None:
    """Append what a paged query asked and got to ``record`` (for provenance)."""
    if record is None:
        return
    url, _ = _endpoint(name)
    pub = gdc_endpoint(name)
    ask = {k: v for k, v in body.items() if k not in ("size", "from")}
    warns = list(dict.fromkeys(w for p in pages for w in p.get("_warnings", [])))
    answers = []
    for p in pages:
        meta = read_meta(cache_dir() / p["_relpath"]) if (cache_dir() / p["_relpath"]).is_file() else {}
        answers.append({"url": pub, "relpath": p["_relpath"], "sha256": meta.get("sha256", ""),
                        "fetched": meta.get("fetched", "")})
    record.append({"endpoint": name, "url": url, "query": json.dumps(ask, sort_keys=True), "n_hits": int(n),
                   "warnings": warns, "answers": answers})


def _paginate(name: str, body: dict, *, refresh: bool, what: str = "this GDC query",
              record: list | None = None) -> list[dict]:
    """All hits of a query, paged with a stable sort; checked against ``pagination.total``."""
    body = {**body, "sort": _SORT[name]}
    for attempt in range(2):
        hits: list[dict] = []
        pages: list[dict] = []
        offset, total = 0, 0
        while True:
            page = _post_json(name, {**body, "size": PAGE_SIZE, "from": offset},
                              refresh=refresh or attempt > 0, what=what)
            pages.append(page)
            data = page["data"]
            new = [h for h in data.get("hits") or [] if isinstance(h, dict)]
            hits.extend(new)
            pagination = data.get("pagination") or {}
            total = int(pagination.get("total", len(hits)))
            offset += len(new)
            if not new or offset >= total or len(pages) > total // max(1, PAGE_SIZE) + 2:
                break
        unique: dict[str, dict] = {}
        for h in hits:
            k = _hit_key(name, h)
            if k is not None:
                unique.setdefault(k, h)
        if len(unique) == total:
            if len(hits) != total:
                logger.warning("GDC %s: %d hits for %d records; duplicates dropped", name, len(hits), total)
            _record(record, name, body, pages, len(unique))
            return list(unique.values())
        logger.warning("GDC %s: %d distinct records over the pages but pagination.total = %d; "
                       "asking again", name, len(unique), total)
    url, _ = _endpoint(name)
    raise DataFormatError(
        f"{url}: the paged answer holds {len(unique)} distinct {_KEY[name]}s but the GDC reports "
        f"pagination.total = {total} (after one retry, sorted by {_SORT[name]}). The listing changed "
        "while it was read or the server ignores 'sort'; retry later."
    )


def sample_type_code(barcode: str) -> str | None:
    """``TCGA-2V-A95S-01A`` -> ``"01"`` (the two digits of the sample field)."""
    m = re.match(r"^TCGA-\w{2}-\w{4}-(\d{2})", str(barcode))
    return m.group(1) if m else None


def sample_code(barcode, sample_type) -> tuple[str | None, str]:
    """(two-digit sample type code, where it came from) of one GDC sample.

    The barcode's sample field first (``TCGA-2V-A95S-01A`` -> ``01``), else the GDC's
    ``sample_type`` text through :data:`SAMPLE_TYPE_CODES`; ``(None, "")`` when neither
    says. (The GDC's own ``sample_type_id`` was removed in API 8.3.0.)
    """
    code = sample_type_code(barcode) if isinstance(barcode, str) else None
    if code is not None:
        return code, "barcode"
    text = sample_type.strip().lower() if isinstance(sample_type, str) else ""
    if text in SAMPLE_TYPE_CODES:
        return SAMPLE_TYPE_CODES[text], "sample_type"
    return None, ""


def _first(value) -> dict:
    if isinstance(value, list):
        value = value[0] if value else {}
    return value if isinstance(value, dict) else {}


def _aliquot(sample: dict) -> str | None:
    """The aliquot barcode under ``samples[].portions[].analytes[].aliquots[]``."""
    found = []
    for portion in sample.get("portions") or []:
        for analyte in (portion or {}).get("analytes") or []:
            for aliquot in (analyte or {}).get("aliquots") or []:
                sid = (aliquot or {}).get("submitter_id")
                if isinstance(sid, str) and sid:
                    found.append(sid)
    return found[0] if len(found) == 1 else ("|".join(sorted(found)) if found else None)


FILE_COLUMNS = ["file_id", "file_name", "md5sum", "file_size", "case_id", "case_submitter_id", "barcode",
                "aliquot_barcode", "sample_type", "sample_type_code", "code_source"]


def query_files(project: str = "TCGA-LIHC", *, workflow: str = "STAR - Counts",
                refresh: bool = False, record: list | None = None) -> pd.DataFrame:
    """The project's expression files: one row per file (file_id, file_name, md5sum, ...).

    Columns: ``file_id, file_name, md5sum, file_size, case_id`` (GDC case UUID),
    ``case_submitter_id`` (patient barcode), ``barcode`` (sample submitter id),
    ``aliquot_barcode`` (the aliquot the file was made from), ``sample_type`` (GDC's
    label), ``sample_type_code`` (two digits, from :func:`sample_code`) and
    ``code_source`` (``barcode`` / ``sample_type``). ``record`` (a list) receives
    the query, its answers and the API's warnings.

    Raises
    ------
    AccessionNotFound
        The GDC has no such files (unknown project or workflow).
    DataFormatError
        The paged listing does not add up to ``pagination.total``.
    """
    body = {
        "filters": _filters(("cases.project.project_id", [project]),
                            ("files.data_type", ["Gene Expression Quantification"]),
                            ("files.analysis.workflow_type", [workflow])),
        "fields": ",".join(FILE_FIELDS),
        "format": "JSON",
    }
    hits = _paginate("files", body, refresh=refresh, what=project, record=record)
    rows = []
    for h in hits:
        case = _first(h.get("cases"))
        sample = _first(case.get("samples"))
        barcode = sample.get("submitter_id")
        code, source = sample_code(barcode, sample.get("sample_type"))
        rows.append({
            "file_id": h.get("file_id") or h.get("id"), "file_name": h.get("file_name"),
            "md5sum": h.get("md5sum"), "file_size": h.get("file_size"),
            "case_id": case.get("case_id"), "case_submitter_id": case.get("submitter_id"),
            "barcode": barcode, "aliquot_barcode": _aliquot(sample), "sample_type": sample.get("sample_type"),
            "sample_type_code": code, "code_source": source,
        })
    df = pd.DataFrame(rows, columns=FILE_COLUMNS)
    if df.empty:
        url, _ = _endpoint("files")
        raise AccessionNotFound(
            f"the GDC has no '{workflow}' gene expression files for project {project!r}. Check "
            "the project id (e.g. TCGA-LIHC) and the workflow (e.g. 'STAR - Counts').", url=url
        )
    bad = df["file_id"].isna() | df["file_name"].isna()
    if bad.any():
        raise DataFormatError(f"GDC files query returned {int(bad.sum())} hits without file_id/file_name.")
    if df["file_name"].str.contains(r"[/\\]|^\.\.?$", regex=True).any():
        raise DataFormatError("GDC files query returned file names with path separators; refusing them.")
    return df.sort_values(["barcode", "aliquot_barcode", "file_id"], na_position="last").reset_index(drop=True)


def data_release(*, key: str, refresh: bool = False) -> dict:
    """The GDC's ``GET /status`` (``data_release``, ``tag`` = API version, ``commit``).

    Cached next to the query it dates (``key``: that query's cache name), so a cohort
    loaded again from the cache reports the release it was read from. A server that
    cannot say (no ``/status``, offline without a cached answer) gives
    ``{"data_release": "unknown", ...}`` with the reason; never an error.
    """
    url, explicit = _endpoint("status")
    pub = gdc_endpoint("status")
    rel = f"{_CACHE_HOST}/status/for-{key}.json"
    out = {"data_release": "unknown", "tag": "", "commit": "", "status": "", "url": pub, "relpath": rel,
           "sha256": "", "note": ""}
    path = cache_dir() / rel
    if refresh or not path.is_file():
        if is_offline() or (mirror_base() and not explicit):
            out["note"] = "not recorded: the query answers came from the cache and /status was not cached"
            return out
        try:
            path = _get_small(url, rel, explicit)
        except FetchError as exc:
            out["note"] = f"GET {url} failed: {str(exc).splitlines()[0]}"
            logger.warning("GDC data release unknown (%s)", out["note"])
            return out
    try:
        status = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        status = None
    if not isinstance(status, dict):
        out["note"] = f"GET {url} did not answer a JSON object"
        remove(rel)
        return out
    for k in ("data_release", "tag", "commit", "status"):
        if status.get(k) not in (None, ""):
            out[k] = str(status[k])
    out["sha256"] = read_meta(path).get("sha256", "")
    return out


def _get_small(url: str, rel: str, explicit: bool) -> Path:
    """GET a small answer into the cache at ``rel``; from the server named by
    ``settings.gdc_url`` itself when ``explicit`` (never a file mirror)."""
    if not explicit:
        return fetch(url, relpath=rel, force=True, progress=False)
    from ..fetch import RetryPolicy, download_to

    partial = cache_dir() / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=partial, prefix="gdc-") as tmp:
        part = Path(tmp) / "status.json"
        download_to(url, part, public_url=url, policy=RetryPolicy(attempts=2))
        return store(part, rel, url=url)


def _refused(exc: FetchError) -> bool:
    """A 4xx answer (the request itself refused), as opposed to a network failure."""
    return bool(re.search(r"HTTP 4\d\d", str(exc))) and not isinstance(exc, AccessionNotFound)


def fetch_clinical(case_ids: list[str], *, project: str | None = None,
                   refresh: bool = False, record: list | None = None) -> list[dict]:
    """GDC ``cases`` records for these case submitter ids (patient barcodes).

    Asks for ``expand=`` :data:`~mgtranscript.datasets._gdc_clinical.CLINICAL_EXPAND`; a
    server that refuses it (HTTP 4xx) is asked for
    :data:`~mgtranscript.datasets._gdc_clinical.CLINICAL_FIELDS` by name instead.
    ``record`` (a list) receives the query, its answers and the API's warnings.
    """
    pairs: list[tuple[str, list]] = [("submitter_id", sorted(set(case_ids)))]
    if project:
        pairs.insert(0, ("project.project_id", [project]))
    what = f"{project or 'GDC'} clinical data"
    body = {"filters": _filters(*pairs), "format": "JSON"}
    try:
        return _paginate("cases", {**body, "fields": "submitter_id,case_id", "expand": CLINICAL_EXPAND},
                         refresh=refresh, what=what, record=record)
    except FetchError as exc:
        if not _refused(exc):
            raise
        logger.warning("GDC /cases refused expand=%s (%s); asking for the fields by name",
                       CLINICAL_EXPAND, str(exc).splitlines()[0])
        return _paginate("cases", {**body, "fields": ",".join(CLINICAL_FIELDS)}, refresh=refresh,
                         what=what, record=record)
