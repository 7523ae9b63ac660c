"""A liver vocabulary: free-text sample metadata -> the catalog's ``disease`` / ``condition``.

GEO series carry their groups in free text ("disease state: NASH", "diagnosis: HC",
"tissue: Liver Non-Tumor Tissue", "Severe AH_12"). :func:`term_of` maps one value to a
vocabulary *term*; :func:`resolve` turns the terms of one metadata field into catalog labels,
using the field's other values as context where a word is ambiguous:

- ``normal`` / ``control`` / ``healthy`` is a healthy control in a MASLD series, the
  ``normal`` control of an ALD series, and the adjacent non-tumour tissue of an HCC series;
- ``NAFLD`` next to ``NASH`` in the same field means non-NASH NAFLD, i.e. ``NAFL``
  (GSE126848); alone it gives no stage and stays unmapped;
- ``ALD`` alone gives no stage (hepatitis or cirrhosis) and stays unmapped.

Each resolved label says whether context was needed (the draft's confidence drops).
"""

from __future__ import annotations

import re

__all__ = ["normalise", "term_of", "area_of", "resolve", "TERM_AREA", "SEX", "ETIOLOGY", "liver_words",
           "other_tissue_words"]

#: (term, pattern on the normalised value); the first match wins, so order matters
_TERMS: tuple[tuple[str, str], ...] = (
    ("nontumour", r"\b(non ?tumou?r(al|ous)?|adjacent|para ?(cancerous|carcinoma|tumou?r(al)?)|peri ?tumou?r(al)?|"
                  r"non ?cancerous|non ?neoplastic|non ?malignant|antt|surrounding liver)\b|^(nt|n|ant)$"),
    ("recurrent", r"\brecurren(t|ce)\b"),
    ("tumour", r"\b(tumou?rs?|hcc|hepatocellular carcinoma|carcinoma|cancer|malignant)\b|^(t|pt)$"),
    ("alcohol_cirrhosis", r"\b(alcohol(ic)?( related| associated| induced)? cirrhosis|cirrhosis without ah)\b"),
    ("alcoholic_hepatitis", r"\b(alcoholic hepatitis|alcohol (associated|related) hepatitis|severe ah|ah|"
                            r"alcoholic steatohepatitis|ash)\b"),
    ("ald", r"\b(ald|arld|alcohol(ic)?( related| associated)? liver disease|alcoholic|alcohol)\b"),
    ("dili", r"\b(dili|drug induced( liver injury)?|acetaminophen|paracetamol|apap|hepatotoxicity)\b"),
    ("nash", r"\b(nash|mash|steatohepatitis)\b"),
    ("nafl", r"\b(nafl|mafl|simple steatosis|steatosis|fatty liver)\b|^ss$"),
    ("nafld", r"\b(nafld|masld|mafld)\b"),
    ("obese", r"\bobes(e|ity)\b"),
    ("healthy", r"\b(healthy|donors?|hc|lean|normal weight|non ?nafld|no nafld)\b"),
    ("control", r"\b(controls?|normal|reference|ctrl)\b"),
)
_COMPILED = tuple((t, re.compile(p)) for t, p in _TERMS)

#: the disease area a term points to ("" for controls)
TERM_AREA = {"nontumour": "HCC", "recurrent": "HCC", "tumour": "HCC", "alcohol_cirrhosis": "ALD",
             "alcoholic_hepatitis": "ALD", "ald": "ALD", "dili": "DILI", "nash": "MASLD", "nafl": "MASLD",
             "nafld": "MASLD", "obese": "MASLD", "healthy": "", "control": ""}

SEX = {"m": "male", "male": "male", "man": "male", "f": "female", "female": "female", "woman": "female"}
ETIOLOGY = (("HBV", r"\b(hbv|hepatitis b)\b"), ("HCV", r"\b(hcv|hepatitis c)\b"),
            ("alcohol", r"\b(alcohol(ic)?|ald|ethanol)\b"), ("MASLD", r"\b(nafld|nash|masld|mash|metabolic)\b"),
            ("none", r"^(none|no|negative|nbnc|non b non c)$"))

liver_words = re.compile(r"liver|hepat|\bhcc\b|nash|nafld|masld|steato|cirrho|biopsy")
other_tissue_words = re.compile(
    r"\b(?:blood|pbmc|plasma|serum|adipose|fat tissue|muscle|brain|kidney|lung|colon|intestin\w*|breast|skin|"
    r"heart|pancrea\w*|stomach|gastric|prostate|cell line|hepg2|huh ?7|hep3b|urine|saliva|stool|feces)\b")


def normalise(value) -> str:
    """Lower case, separators (``_ - / .``) as spaces, trimmed: ``"NASH_F0-F1"`` -> ``"nash f0 f1"``."""
    return re.sub(r"\s+", " ", re.sub(r"[_\-/.:;,()]+", " ", str(value).strip().lower())).strip()


def term_of(value) -> str | None:
    """The vocabulary term of one metadata value, or ``None``."""
    if value is None:
        return None
    v = normalise(value)
    if not v or v in ("nan", "none", "na", "n a"):
        return None
    for term, rx in _COMPILED:
        if rx.search(v):
            return term
    return None


def area_of(terms) -> str:
    """The disease area the non-control terms of one field point to (most frequent), or ``""``."""
    counts: dict[str, int] = {}
    for t in terms:
        a = TERM_AREA.get(t or "", "")
        if a:
            counts[a] = counts.get(a, 0) + 1
    return max(counts, key=counts.get) if counts else ""


def resolve(term: str | None, *, area: str, field_terms: set) -> tuple[str, str, str] | None:
    """``(disease, condition, note)`` for a term in its field's context; ``None`` when unmapped.

    ``note`` is empty when the word alone decides, else it says which context was used.
    """
    if term is None:
        return None
    if term in ("healthy", "control"):
        if area == "HCC":
            if term == "healthy":
                return "control", "healthy", "a healthy donor liver in an HCC series"
            return "HCC", "hcc_nontumour", "'normal'/'control' in an HCC series read as non-tumour liver"
        if area == "ALD":
            return "control", "normal", "a control in an ALD series: condition 'normal'"
        note = "" if term == "healthy" else "'normal'/'control' read as a healthy control"
        return "control", "healthy", note
    fixed = {"obese": ("control", "obese"), "nafl": ("MASLD", "NAFL"), "nash": ("MASLD", "NASH"),
             "alcoholic_hepatitis": ("ALD", "alcoholic_hepatitis"), "alcohol_cirrhosis": ("ALD", "alcohol_cirrhosis"),
             "tumour": ("HCC", "hcc_tumour"), "nontumour": ("HCC", "hcc_nontumour"),
             "recurrent": ("HCC", "hcc_recurrent"), "dili": ("DILI", "dili")}
    if term in fixed:
        return (*fixed[term], "")
    if term == "nafld" and "nash" in field_terms:
        return "MASLD", "NAFL", "'NAFLD' next to 'NASH' in the same field read as non-NASH NAFLD (NAFL)"
    return None  # nafld / ald without a stage
