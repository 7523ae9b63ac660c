"""Gene sets: the curated magnesium sets, GMT/GMX files, MSigDB collections, matching.

>>> from mgtranscript import genesets
>>> gs = genesets.load("magnesium")                      # liver-relevant Mg sub-sets
>>> idx, coverage = genesets.match(gs, adata.var_names)  # doctest: +SKIP

Specs understood by :func:`load`
--------------------------------
``"magnesium"``
    The bundled liver-relevant sub-sets (``scope=liver``: ``MG_LIVER_CORE``,
    ``MG_PM_INFLUX``, ``MG_EFFLUX_EXCHANGE``, ``MG_ER_GOLGI``, ``MG_MITOCHONDRIAL``,
    ``MG_CNNM_REGULATORS``, ``MG_INFLUX_ALL``, ``MG_EFFLUX_ALL``). The renal, immune
    read-out and non-hepatic putative sets are left out.
``"magnesium:all"``
    Every bundled sub-set, including ``MG_RENAL``.
``"magnesium:MG_LIVER_CORE,MG_RENAL"``
    Named bundled sub-sets (comma separated).
``"hallmark"``, ``"h.all"``, ``"reactome"``, ``"c5.bp"``, ``"c5.mf"``, ``"c5.cc"``, ``"c6"``
    An MSigDB symbols GMT fetched through :mod:`mgtranscript.fetch` (cached; honours
    ``settings.mirror`` / ``settings.offline``). ``"hallmark:HALLMARK_DNA_REPAIR"``
    keeps the named sets only.
a path
    A ``.gmt`` or ``.gmx`` file (optionally gzipped).
a ``dict`` / a long ``DataFrame`` / a :class:`GeneSets`
    ``{name: genes}``; a table with columns ``set`` and ``gene``.

The bundled files live in the repository's top-level ``gene_sets/`` folder and are shipped
inside the wheel (:func:`gene_sets_dir` finds them in either layout); set
``mgtranscript.settings.gene_sets_dir`` (``MGTRANSCRIPT_GENE_SETS``) to use another folder
laid out the same way (``magnesium.gmt``,
``magnesium_genes.tsv``, ``VERSION``).

The names below are the whole public surface; the modules behind them are private: ``_sets``
(the :class:`GeneSets` container), ``_formats`` (GMT/GMX), ``_bundled`` (the curated Mg sets),
``_msigdb``, ``_mechanisms`` (the review's mechanisms: :data:`MECHANISMS` and
:func:`mechanism_sets`), ``_load`` (:func:`load`, :func:`combine`) and ``_matching``
(:func:`match`: aliases and coverage).

Alias resolution
----------------
:func:`match` first matches set genes to the data's gene names exactly. A set gene
that is absent is then resolved through (1) the bundled table's aliases and previous
symbols and (2) NCBI ``gene_info`` synonyms (via
:func:`mgtranscript.datasets.load_gene_info`), in both directions: an old
symbol in the set finds the current symbol in the data (``ACDP4->CNNM4``) and a
current symbol in the set finds an old symbol in the data (``MMGT1->EMC5``). A
name is used as an alias only if exactly one gene claims it and it is not the
current symbol of another gene. Every resolution is reported in the coverage table.
"""

from __future__ import annotations

from ._load import combine, load
from ._sets import GeneSetCoverageWarning, GeneSets
from ._bundled import (
    DEFAULT_SET,
    ENV_VAR,
    bundled_names,
    bundled_version,
    gene_sets_dir,
    mg_gene_table,
)
from ._formats import read_gmt, read_gmx
from ._matching import match
from ._mechanisms import CYTOLYTIC, MECHANISMS, mechanism_of, mechanism_sets
from ._msigdb import MSIGDB_COLLECTIONS, msigdb

__all__ = [
    "DEFAULT_SET",
    "ENV_VAR",
    "GeneSets",
    "GeneSetCoverageWarning",
    "MSIGDB_COLLECTIONS",
    "load",
    "combine",
    "read_gmt",
    "read_gmx",
    "msigdb",
    "match",
    "mg_gene_table",
    "gene_sets_dir",
    "bundled_version",
    "bundled_names",
    "MECHANISMS",
    "CYTOLYTIC",
    "mechanism_of",
    "mechanism_sets",
]
