"""The mechanisms through which the review links magnesium to liver disease: :data:`MECHANISMS`
(mechanism -> MSigDB set names), the :data:`CYTOLYTIC` signature, :func:`mechanism_of` and
:func:`mechanism_sets` (the sets themselves, from MSigDB through the download layer)."""

from __future__ import annotations

import logging

import pandas as pd

from ._msigdb import msigdb
from ._sets import GeneSets

logger = logging.getLogger(__name__)

__all__ = ["MECHANISMS", "CYTOLYTIC", "mechanism_sets", "mechanism_of"]

#: The cytolytic-activity signature of Rooney et al. 2015 (Cell 160:48), geometric mean of
#: granzyme A and perforin in the original paper; here a two-gene set for scoring.
CYTOLYTIC: tuple[str, ...] = ("GZMA", "PRF1")

#: Mechanisms through which the review links magnesium to liver disease, mapped to
#: MSigDB 7.0 gene-set names (Hallmark + Reactome) and the bundled ``CYTOLYTIC`` set. The claims
#: (``seeds/claims.tsv``, ``features``) list the same sets. Reviewed set by set:
#:
#: * insulin resistance: the insulin receptor's own cascade (Reactome insulin-receptor
#:   signalling, Hallmark PI3K-AKT-mTOR). Hallmark mTORC1 signalling is left out: its genes are
#:   mostly SREBP-driven sterol/lipid synthesis and growth genes, which insulin-resistant livers
#:   keep switched on ("selective" hepatic insulin resistance), so it points the other way.
#: * mitochondria: oxidative phosphorylation, and fatty-acid metabolism (mitochondrial
#:   beta-oxidation; it also follows hepatocyte content, a caveat of its coupling).
#: * oxidative stress: the Hallmark reactive-oxygen-species pathway only. Hallmark xenobiotic
#:   metabolism (phase I/II enzymes: hepatocyte function, which falls with hepatocyte loss) is
#:   not oxidative stress and is left out.
#: * inflammation: inflammatory response, TNF-alpha/NF-kB and IL-6/JAK/STAT3 signalling.
#: * ER stress: the unfolded-protein response (the CNNM4 mechanism).
#: * DNA repair: Hallmark DNA repair (it also tracks proliferation, notably in tumours).
#: * anti-tumour immunity: interferon-gamma response, allograft rejection and the cytolytic
#:   activity of GZMA and PRF1 (judged in HCC only).
#: * fibrosis: epithelial-mesenchymal transition (matrix genes) and TGF-beta signalling.
MECHANISMS: dict[str, tuple[str, ...]] = {
    "insulin_resistance": (
        "HALLMARK_PI3K_AKT_MTOR_SIGNALING",
        "REACTOME_SIGNALING_BY_INSULIN_RECEPTOR",
    ),
    "mitochondria": ("HALLMARK_OXIDATIVE_PHOSPHORYLATION", "HALLMARK_FATTY_ACID_METABOLISM"),
    "oxidative_stress": ("HALLMARK_REACTIVE_OXYGEN_SPECIES_PATHWAY",),
    "inflammation": (
        "HALLMARK_INFLAMMATORY_RESPONSE",
        "HALLMARK_TNFA_SIGNALING_VIA_NFKB",
        "HALLMARK_IL6_JAK_STAT3_SIGNALING",
    ),
    "er_stress": ("HALLMARK_UNFOLDED_PROTEIN_RESPONSE",),
    "dna_repair": ("HALLMARK_DNA_REPAIR",),
    "antitumour_immunity": (
        "HALLMARK_INTERFERON_GAMMA_RESPONSE",
        "HALLMARK_ALLOGRAFT_REJECTION",
        "CYTOLYTIC",
    ),
    "fibrosis": ("HALLMARK_EPITHELIAL_MESENCHYMAL_TRANSITION", "HALLMARK_TGF_BETA_SIGNALING"),
}


def mechanism_of(set_name: str) -> str:
    """Review mechanism a gene-set name belongs to (``""`` when it is not in :data:`MECHANISMS`)."""
    key = str(set_name).upper()
    for mech, names in MECHANISMS.items():
        if key in names:
            return mech
    return ""


def mechanism_sets(*, version: str = "7.0") -> GeneSets:
    """The gene sets of :data:`MECHANISMS`, loaded from MSigDB through the download layer.

    Hallmark (``h.all``) and Reactome (``c2.cp.reactome``) GMTs of the given MSigDB
    ``version`` are fetched (cached; honours ``settings.mirror`` / ``settings.offline``), the
    listed set names are looked up case-insensitively, and ``CYTOLYTIC`` (GZMA, PRF1;
    Rooney 2015) is added. A name not found in this MSigDB version is reported in a
    warning and skipped.

    Parameters
    ----------
    version
        MSigDB release of the Hallmark and Reactome GMTs (the mirror holds 7.0).

    Returns
    -------
    GeneSets
        With ``.meta["source"]`` naming the collection and ``.meta["description"]`` the
        review mechanism (when the GeneSets meta allows it).
    """
    wanted = {name for names in MECHANISMS.values() for name in names if name != "CYTOLYTIC"}
    found: dict[str, tuple[str, ...]] = {}
    source: dict[str, str] = {}
    for coll in ("h.all", "c2.cp.reactome"):
        need = {w for w in wanted if w not in found}
        if not need or (coll == "h.all" and not any(w.startswith("HALLMARK_") for w in need)):
            continue
        lib = msigdb(coll, version=version)
        upper = {str(k).upper(): k for k in lib.keys()}
        for w in sorted(need):
            if w.upper() in upper:
                real = upper[w.upper()]
                found[w] = tuple(lib[real])
                source[w] = f"MSigDB {version} {coll}" + (f" (as {real})" if real != w else "")
                if real != w:
                    logger.info("mechanism set %s found as %s", w, real)
    missing = sorted(wanted - set(found))
    if missing:
        logger.warning("mechanism sets not found in MSigDB %s and skipped: %s", version, missing)
    found["CYTOLYTIC"] = CYTOLYTIC
    source["CYTOLYTIC"] = "Rooney et al. 2015 cytolytic activity (GZMA, PRF1)"
    ordered = {n: found[n] for names in MECHANISMS.values() for n in names if n in found}
    meta = pd.DataFrame(
        {"source": [source[n] for n in ordered], "description": [mechanism_of(n) for n in ordered]},
        index=pd.Index(list(ordered), name="set"),
    )
    return GeneSets(ordered, meta=meta, source=f"MSigDB {version} + Rooney 2015", version=version,
                    spec="mechanisms")
