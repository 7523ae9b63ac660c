"""Words for people, shared by the figures (:mod:`mgtranscript.pl`) and the report
(:mod:`mgtranscript.report`): one colour and one name per group, gene-set and score names in
words, feature units, and numbers and p-values as people read them.

- :data:`GROUP_COLOURS` gives every condition / disease group ONE colour, the same in
  every figure and every cohort (``NASH`` is always brick red, ``healthy`` always blue).
  Groups not listed get a stable colour derived from their name.
- :func:`set_label`, :func:`group_label` and :func:`feature_label` turn keys
  (``MG_EFFLUX_EXCHANGE``, ``hcc_nontumour``, ``HALLMARK_TNFA_SIGNALING_VIA_NFKB``) into words;
  :func:`feature_units` gives a feature's units.
- :func:`fmt_p` and :func:`fmt_signed` write p-values and signed numbers.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence

#: One colour per group name, across all figures and cohorts (colour-blind-aware hues:
#: controls blue/teal/grey, the MASLD spectrum amber to brick red, ALD purple, HCC magenta).
GROUP_COLOURS: dict[str, str] = {
    # MASLD spectrum
    "healthy": "#2f6fad",
    "obese": "#79b4d9",
    "NAFL": "#e8a33d",
    "NASH": "#c0392b",
    # ALD
    "normal": "#2a9d8f",
    "alcoholic_hepatitis": "#8e44ad",
    "alcohol_cirrhosis": "#4a235a",
    # HCC
    "hcc_nontumour": "#7f8c8d",
    "hcc_tumour": "#d1477a",
    "hcc_recurrent": "#7b1e4b",
    # disease level
    "control": "#5d7185",
    "MASLD": "#e07b39",
    "ALD": "#9b59b6",
    "HCC": "#d1477a",
    "DILI": "#b7950b",
    # survival strata
    "high": "#c0392b",
    "low": "#2f6fad",
}

_GROUP_WORDS: dict[str, str] = {
    "healthy": "healthy",
    "obese": "obese",
    "alcoholic_hepatitis": "alcoholic hepatitis",
    "alcohol_cirrhosis": "alcohol cirrhosis",
    "hcc_nontumour": "HCC non-tumour",
    "hcc_tumour": "HCC tumour",
    "hcc_recurrent": "HCC recurrent",
}

_FALLBACK = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
             "#17becf", "#bcbd22")

#: Words for the bundled Mg sub-sets and the derived Mg scores.
SET_WORDS: dict[str, str] = {
    "MG_LIVER_CORE": "Mg liver core",
    "MG_PM_INFLUX": "Mg plasma-membrane influx",
    "MG_EFFLUX_EXCHANGE": "Mg efflux/exchange",
    "MG_ER_GOLGI": "Mg ER/Golgi",
    "MG_MITOCHONDRIAL": "Mg mitochondrial",
    "MG_CNNM_REGULATORS": "CNNM regulators (PRL, ARL15)",
    "MG_INFLUX_ALL": "Mg influx (all compartments)",
    "MG_EFFLUX_ALL": "Mg efflux (all compartments)",
    "MG_RENAL": "Mg renal/intestinal",
    "MG_IMMUNE_READOUT": "Mg immune read-out",
    "MG_PUTATIVE_OTHER": "Mg putative/other",
    "mg_balance": "Mg balance (influx − efflux)",
    "CYTOLYTIC": "Cytolytic activity (GZMA, PRF1)",
}

#: The review's mechanisms (the keys of ``mgtranscript.genesets.MECHANISMS``) in words.
MECHANISM_WORDS: dict[str, str] = {
    "inflammation": "inflammation", "oxidative_stress": "oxidative stress", "mitochondria": "mitochondria",
    "insulin_resistance": "insulin resistance", "er_stress": "ER stress", "dna_repair": "DNA repair",
    "antitumour_immunity": "anti-tumour immunity", "fibrosis": "fibrosis", "gut_liver": "gut-liver axis",
}

#: Tokens kept (or written) in their usual capitalisation inside MSigDB names.
_TOKENS: dict[str, str] = {
    "DNA": "DNA", "RNA": "RNA", "ER": "ER", "UV": "UV", "PI3K": "PI3K", "AKT": "AKT", "MTOR": "mTOR",
    "MTORC1": "mTORC1", "TNFA": "TNF-α", "NFKB": "NF-κB", "IL6": "IL-6", "IL2": "IL-2", "JAK": "JAK",
    "STAT3": "STAT3", "STAT5": "STAT5", "TGF": "TGF", "KRAS": "KRAS", "E2F": "E2F", "G2M": "G2M",
    "P53": "p53", "MYC": "MYC", "WNT": "WNT", "NOTCH": "NOTCH", "HEDGEHOG": "Hedgehog", "ATP": "ATP",
    "NK": "NK", "TCA": "TCA", "ROS": "ROS", "UPR": "UPR", "V1": "v1", "V2": "v2", "ECM": "ECM",
    "MHC": "MHC", "NADH": "NADH", "CD8": "CD8", "T": "T", "B": "B",
}

#: Columns of ``features`` that are labels, not numbers to plot.
LABEL_COLUMNS = ("condition", "disease", "pair_id", "fibrosis_stage", "subgroup", "etiology", "os_days",
                 "os_event", "sex", "age")

def group_colour(name: object) -> str:
    """The colour of a group, the same in every figure (stable fallback for unknown names)."""
    key = str(name)
    if key in GROUP_COLOURS:
        return GROUP_COLOURS[key]
    low = {k.lower(): v for k, v in GROUP_COLOURS.items()}
    if key.lower() in low:
        return low[key.lower()]
    h = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16)
    return _FALLBACK[h % len(_FALLBACK)]


def group_colours(levels: Iterable[object]) -> list[str]:
    """:func:`group_colour` of each level."""
    return [group_colour(lv) for lv in levels]


def group_label(name: object) -> str:
    """A group name for people: ``hcc_nontumour`` -> ``HCC non-tumour``."""
    key = str(name)
    return _GROUP_WORDS.get(key, key.replace("_", " "))


def _words(tokens: Sequence[str]) -> str:
    out = []
    for t in tokens:
        if t in _TOKENS:
            out.append(_TOKENS[t])
        elif re.fullmatch(r"[A-Z0-9]+", t) and any(c.isdigit() for c in t):
            out.append(t)  # gene-like tokens (CD4, IL10) stay as they are
        else:
            out.append(t.lower())
    return " ".join(out)


def set_label(name: object) -> str:
    """A gene-set or score key for people.

    ``MG_EFFLUX_EXCHANGE`` -> ``Mg efflux/exchange``; ``HALLMARK_TNFA_SIGNALING_VIA_NFKB`` ->
    ``Hallmark: TNF-α signaling via NF-κB``; ``REACTOME_SIGNALING_BY_INSULIN_RECEPTOR`` ->
    ``Reactome: signaling by insulin receptor``; ``composition_hepatocyte`` ->
    ``Hepatocyte content``. Anything else (gene symbols) is returned unchanged.
    """
    key = str(name)
    if key in SET_WORDS:
        return SET_WORDS[key]
    if key.startswith("composition_"):
        body = _words([t.upper() if t.upper() in _TOKENS else t for t in key[len("composition_"):].split("_")])
        return (body[:1].upper() + body[1:]).replace("T NK", "T/NK").replace("B plasma", "B/plasma") + " content"
    m = re.match(r"^(HALLMARK|REACTOME|KEGG|GOBP|GOMF|GOCC|BIOCARTA|WP|PID)_(.+)$", key)
    if m:
        src = {"HALLMARK": "Hallmark", "REACTOME": "Reactome", "KEGG": "KEGG", "GOBP": "GO BP",
               "GOMF": "GO MF", "GOCC": "GO CC", "BIOCARTA": "BioCarta", "WP": "WikiPathways",
               "PID": "PID"}[m.group(1)]
        body = _words(m.group(2).split("_"))
        for a, b in (("PI3K AKT mTOR", "PI3K/AKT/mTOR"), ("IL-6 JAK STAT3", "IL-6/JAK/STAT3"),
                     ("IL-2 STAT5", "IL-2/STAT5"), ("WNT beta catenin", "WNT/β-catenin")):
            body = body.replace(a, b)
        return f"{src}: {body}"
    if key.startswith("MG_"):
        return "Mg " + key[3:].replace("_", " ").lower()
    if key.startswith("MECH_"):  # the union of a mechanism's gene sets (mgtranscript.claims)
        words = MECHANISM_WORDS.get(key[5:].lower(), key[5:].replace("_", " ").lower())
        return words[:1].upper() + words[1:] + " (all its gene sets)"
    if key in MECHANISM_WORDS:
        return MECHANISM_WORDS[key]
    return key


def feature_kind(name: object) -> str:
    """``"set"``, ``"balance"``, ``"composition"``, ``"gene"`` or ``"other"``, from the name alone."""
    key = str(name)
    if key == "mg_balance":
        return "balance"
    if key.startswith("composition_"):
        return "composition"
    if key in SET_WORDS or re.match(r"^(MG|MECH|HALLMARK|REACTOME|KEGG|GOBP|GOMF|GOCC|BIOCARTA|WP|PID)_", key):
        return "set"
    if re.match(r"^(GSE|GDS|GSM|TCGA-|E-MTAB-)", key):
        return "other"  # accessions
    if re.fullmatch(r"[A-Z][A-Z0-9-]*(\.[0-9]+)?", key) or re.fullmatch(r"C\d+orf\d+", key):
        return "gene"
    return "other"


#: Default units when the result's params do not give them.
DEFAULT_UNITS = {
    "set": "score",
    "balance": "mean z-score, influx − efflux genes",
    "composition": "cell-type marker score",
    "gene": "log expression",
    "other": "",
}


def feature_units(name: object, params: dict | None = None) -> str:
    """Units of a feature, from ``params`` (``score_units``, ``expression_units``, ``composition_units``)."""
    kind = feature_kind(name)
    params = dict(params or {})
    key = {"set": "score_units", "gene": "expression_units", "composition": "composition_units",
           "balance": "balance_units"}.get(kind)
    if key and params.get(key):
        return str(params[key])
    return DEFAULT_UNITS[kind]


def feature_label(name: object, params: dict | None = None, *, units: bool = True) -> str:
    """Axis label for a feature: words, then the units on a second line."""
    kind = feature_kind(name)
    text = f"{name} expression" if kind == "gene" else set_label(name)
    u = feature_units(name, params) if units else ""
    return f"{text}\n{u}" if u else text


def fmt_signed(v: float, digits: int = 2) -> str:
    """A number with a true minus sign (as matplotlib's tick labels)."""
    s = f"{v:.{digits}f}"
    return s.replace("-", "−")


def fmt_p(p: float, *, floor: float | None = None) -> str:
    """A p- or q-value for people: ``< 1e-10``, ``3.1e-5``, ``0.042``, ``0.31``; NaN -> "—".

    ``floor``: the smallest p a permutation test can give (1/(permutations + 1)); a p of 0
    is then shown as ``< floor``.
    """
    try:
        f = float(p)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(f):
        return "—"
    if f == 0 and floor:
        return f"< {floor:.1g}"
    if f < 1e-10:
        return "< 1e-10"
    if f < 1e-3:
        return f"{f:.1e}".replace("e-0", "e-")
    if f >= 0.995:
        return "1"
    return f"{f:.2g}" if f < 0.1 else f"{f:.2f}"
