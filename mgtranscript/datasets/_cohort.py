"""Load a catalog cohort: its loader (GEO or GDC) plus the catalog's harmonised labels."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._catalog import catalog, cohort_info, use_catalog
from ._gdc import gdc
from ._geo import geo
from ._labels import apply_labels

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["load_cohort"]


def load_cohort(accession: str, *, samples=None, samples_key: str | None = None,
                metadata_only: bool = False, labels: bool = True, catalog=None, **kwargs) -> AnnData:
    """Load a cohort and add the catalog's harmonised labels.

    Parameters
    ----------
    accession
        A GEO series (``GSE126848``) or a GDC project (``TCGA-LIHC``).
    samples
        A user sample sheet (path or DataFrame) joined on GSM / run / title / ``samples_key``.
    samples_key
        Column of the sheet to join on (auto-detected when omitted).
    metadata_only
        Load sample metadata only (no expression; for a TCGA project: samples and clinical data).
    labels
        Apply the catalog's label rules (``obs["disease"]``, ``obs["condition"]``,
        ``obs["fibrosis_stage"]``, ``obs["nas"]``, ``obs["pair_id"]``). Accessions not in the
        catalog are returned unlabelled with a warning.
    catalog
        A user catalog (TOML path or mapping, same schema as the bundled ``cohorts.toml``)
        merged over the bundled one.
    **kwargs
        Passed to :func:`geo` or :func:`gdc` (the entry's ``[load]`` table, e.g. the platform of
        a multi-platform series, gives defaults).

    Returns
    -------
    AnnData (samples x genes). ``uns["labels"]["check"]`` compares the labels with the
    entry's expected counts (``status`` ``ok`` or ``labels disagree``, with both counts in
    ``reason``; a :class:`~mgtranscript.datasets.LabelWarning` says so). Samples no
    rule labels stay ``"unlabelled"`` and are counted there. When samples lack expression
    values, the counts are checked on the series' full metadata.

    Raises
    ------
    LabelsMissing
        No sample can be labelled because the labels come from information not given (e.g.
        GSE77314's sample sheet), or a paired cohort lacks its pairing information; the message
        says what is missing and how to give it.
    """
    with use_catalog(catalog):
        return _load_cohort(accession, samples=samples, samples_key=samples_key,
                            metadata_only=metadata_only, labels=labels, **kwargs)


def _load_cohort(accession, *, samples, samples_key, metadata_only, labels, **kwargs):
    from ..errors import LabelsMissing
    from ._labels import label_obs

    acc = str(accession).strip()
    known = {a.upper(): a for a in catalog()["accession"]}
    entry = cohort_info(known[acc.upper()]) if acc.upper() in known else {}
    if acc.upper().startswith("TCGA-"):
        if samples is not None or samples_key:
            from ..errors import UsageError

            raise UsageError(f"{acc.upper()} is a TCGA project from the GDC: its samples come with their barcodes "
                             "and the GDC's clinical records; a sample sheet applies to GEO series only.")
        adata = gdc(acc.upper(), metadata_only=metadata_only, **kwargs)
    else:
        kwargs = {**entry.get("load", {}), **kwargs}
        adata = geo(acc, samples=samples, samples_key=samples_key,
                    metadata_only=metadata_only, **kwargs)
    if not labels:
        return adata
    if not entry:
        logger.warning("%s is not in the cohort catalog: no harmonised labels added", acc)
        return adata
    acc = known[acc.upper()]
    apply_labels(adata, acc)
    missing = adata.uns["labels"].get("missing")
    if missing:
        raise LabelsMissing(missing)
    dropped = (adata.uns.get("geo", {}).get("column_match") or {}).get("unmatched_samples") or []
    if len(dropped) and not metadata_only and not acc.upper().startswith("TCGA-"):
        # samples without expression values: count the labels on the whole series, as the source does
        meta = geo(acc, samples=samples, samples_key=samples_key, metadata_only=True,
                   **{k: v for k, v in kwargs.items() if k in ("platform", "progress")})
        full = label_obs(meta.obs, acc, warn=False)
        check = full.attrs["label_check"]
        check["n_without_expression"] = int(meta.n_obs - adata.n_obs)
        check["reason"] = (check["reason"] + "; " if check["reason"] else "") + (
            f"{meta.n_obs - adata.n_obs} of the series' {meta.n_obs} samples have no expression values "
            f"(e.g. {list(dropped)[:3]}); the counts were checked on the full series metadata")
        adata.uns["labels"]["check"] = check
    return adata

