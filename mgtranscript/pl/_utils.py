"""Shared plotting helpers: saving, score tables, group order, colours, AnnData-or-table access."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

DEFAULT_DPI = 150


def _palette_png(rgb, path: Path) -> None:
    """Write an RGB image as a 256-colour palette PNG (no dithering): about 3x smaller, same look."""
    from PIL import Image  # noqa: PLC0415 - Pillow is a matplotlib dependency

    q = rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    tmp = path.with_name(path.name + ".tmp")
    q.save(tmp, format="PNG", compress_level=6)
    tmp.replace(path)


def _is_auto(colour) -> bool:
    return isinstance(colour, str) and colour == "auto"


def _rendered_rgb(fig, dpi: float):
    """The figure drawn ONCE at ``dpi`` as a PIL RGB image, as ``fig.savefig(..., dpi=dpi)`` would
    draw it (the ``savefig.*`` colours, its layout engine run once), or None when the figure's canvas
    cannot render in memory (then :func:`savefig` goes through matplotlib's own path).

    ``Figure.savefig`` draws a figure with a layout engine twice (a layout pass without rendering,
    then the rendering pass); drawing once with the engine in place places everything identically.
    """
    import matplotlib as mpl  # noqa: PLC0415
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    canvas = fig.canvas
    rc = mpl.rcParams
    if (not isinstance(canvas, FigureCanvasAgg) or rc["savefig.bbox"] not in (None, "standard")
            or rc["savefig.transparent"]):
        return None
    old = {"dpi": fig.get_dpi(), "facecolor": fig.get_facecolor(), "edgecolor": fig.get_edgecolor()}
    manager = getattr(canvas, "manager", None)
    try:
        canvas.manager = None  # a pyplot window is not resized by the temporary dpi
        fig.set_dpi(dpi)
        for prop in ("facecolor", "edgecolor"):
            colour = rc[f"savefig.{prop}"]
            if not _is_auto(colour):
                getattr(fig, f"set_{prop}")(colour)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        img = Image.frombuffer("RGBA", (rgba.shape[1], rgba.shape[0]), rgba, "raw", "RGBA", 0, 1).convert("RGB")
    finally:
        fig.set_dpi(old["dpi"])
        fig.set_facecolor(old["facecolor"])
        fig.set_edgecolor(old["edgecolor"])
        canvas.manager = manager
    return img


def _save_compact_png(fig, path: Path, dpi: float) -> None:
    """Draw ``fig`` once and write it as a palette PNG (no intermediate PNG on disk or in memory
    when the canvas renders in memory)."""
    from PIL import Image  # noqa: PLC0415

    rgb = _rendered_rgb(fig, dpi)
    if rgb is None:
        import io  # noqa: PLC0415

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 0})
        buf.seek(0)
        with Image.open(buf) as im:
            rgb = im.convert("RGB")
    _palette_png(rgb, path)


def savefig(fig: Figure, save: str | Path | None, *, svg: bool = False, dpi: int = DEFAULT_DPI,
            compact: bool = True) -> list[Path]:
    """Write ``fig`` to ``<save>.png`` (and ``<save>.svg`` with ``svg=True``), parents created.

    Parameters
    ----------
    fig
        A matplotlib figure.
    save
        File stem; a ``.png``/``.svg``/``.pdf`` suffix is treated as part of the stem and
        replaced. ``None`` writes nothing.
    svg
        Also write an SVG.
    dpi
        Resolution of the PNG.
    compact
        Store the PNG with a 256-colour palette (plots have few colours: the file is about
        3x smaller and looks the same).

    Returns
    -------
    The written paths, PNG first (empty when ``save`` is None).
    """
    if save is None:
        return []
    stem = Path(save)
    if stem.suffix.lower() in {".png", ".svg", ".pdf"}:
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in ("png", "svg") if svg else ("png",):
        path = stem.parent / f"{stem.name}.{ext}"
        if ext == "png" and compact:  # drawn once, encoded once
            _save_compact_png(fig, path, dpi)
        else:
            fig.savefig(path, format=ext, dpi=dpi)
        out.append(path)
    logger.info("saved %s", ", ".join(map(str, out)))
    return out


def new_figure(width: float, height: float):
    """A Figure not registered with pyplot (no GUI, no global state, no leak), on an Agg canvas
    (so it can be drawn and measured before saving, e.g. to move labels apart)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def obsm_frame(adata, key: str) -> pd.DataFrame:
    """Scores under ``key`` as a DataFrame indexed by obs_names (see :func:`mgtranscript.get.scores`)."""
    from ..get import scores  # noqa: PLC0415

    return scores(adata, key)


def obs_column(adata, col: str, what: str = "groupby") -> pd.Series:
    if col not in adata.obs.columns:
        raise InputDataError(f"{what}={col!r} is not a column of adata.obs (columns: {list(adata.obs.columns)}).")
    return adata.obs[col]


def group_levels(values: pd.Series, order: Sequence[str] | None) -> list:
    """Group order: ``order`` if given, else categorical order, else first appearance."""
    present = pd.unique(values.dropna())
    if order is not None:
        missing = [o for o in order if o not in set(present)]
        if missing:
            logger.warning("groups %s in order= are not in the data", missing)
        return [o for o in order if o in set(present)]
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if c in set(present)]
    return list(present)


def colours(levels) -> list[str]:
    """One colour per group level, from the shared palette (:data:`mgtranscript.pl.GROUP_COLOURS`)."""
    from mgtranscript._words import group_colours  # noqa: PLC0415

    if isinstance(levels, int):
        levels = [f"group {i}" for i in range(levels)]
    return group_colours(levels)


def select_columns(df: pd.DataFrame, sets: Sequence[str] | str | None) -> list[str]:
    if sets is None:
        return list(df.columns)
    if isinstance(sets, str):
        sets = [sets]
    missing = [s for s in sets if s not in df.columns]
    if missing:
        raise InputDataError(f"sets {missing} are not scored here (available: {list(df.columns)}).")
    return list(sets)


# the sample-level plots (scores, heatmap, scatter, trend) take an AnnData or a per-sample table


def _is_anndata(data) -> bool:
    return hasattr(data, "obs") and hasattr(data, "obsm") and hasattr(data, "var_names")


def _labels_frame(data) -> pd.DataFrame:
    return data.obs if _is_anndata(data) else data


def _column(data, col: str, what: str) -> pd.Series:
    if _is_anndata(data):
        return obs_column(data, col, what)
    if col not in data.columns:
        raise InputDataError(f"{what}={col!r} is not a column of the table (columns: {list(data.columns)[:20]}).")
    return data[col]


def _unit_of(units, col: str) -> str:
    if isinstance(units, Mapping):
        return str(units.get(col, ""))
    return "" if units is None else str(units)


def _jitter(index: pd.Index, width: float = 0.16) -> pd.Series:
    """A fixed horizontal offset per sample (identical figures on every run)."""
    rng = np.random.default_rng(0)
    return pd.Series(rng.uniform(-width, width, size=len(index)), index=index)
