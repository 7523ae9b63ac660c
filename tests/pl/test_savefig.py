"""Saving figures: drawn once and encoded once, the same pixels matplotlib's own savefig gives;
volcano labels placed the same way however busy the machine is."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mgtranscript import pl
from mgtranscript.pl._look import RC
from mgtranscript.pl._utils import new_figure, savefig


def _forest():
    """A constrained-layout figure with what makes layout matter: long row labels, a legend outside, a title."""
    rows = pd.DataFrame({"label": ["GSE126848, within HCC non-tumour only", "GSE167523", "GSE77314, adjusted"],
                         "estimate": [0.4, -0.2, 1.1], "ci_low": [0.1, -0.6, 0.7], "ci_high": [0.7, 0.2, 1.5],
                         "qval": [0.01, 0.5, 1e-6], "n": ["50 pairs", 98, 57], "included": [True, True, False]})
    return rows


def _palette_of(png: bytes) -> np.ndarray:
    """matplotlib's PNG, through the same 256-colour palette step, as RGB pixels."""
    with Image.open(io.BytesIO(png)) as im:
        rgb = im.convert("RGB")
    q = rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    return np.asarray(q.convert("RGB"))


def test_saved_png_is_what_matplotlib_draws(tmp_path):
    """One draw (no layout-only pass, no intermediate PNG) gives the pixels of ``Figure.savefig``."""
    fig = pl.effect_forest(_forest(), title="R1-HCC: Mg efflux/exchange, HCC tumour vs HCC non-tumour",
                           save=tmp_path / "ours")
    twin = pl.effect_forest(_forest(), title="R1-HCC: Mg efflux/exchange, HCC tumour vs HCC non-tumour")
    buf = io.BytesIO()
    from matplotlib import rc_context

    with rc_context(RC):
        twin.savefig(buf, format="png", dpi=150)
    with Image.open(tmp_path / "ours.png") as im:
        assert im.mode == "P"  # a palette PNG: about 3x smaller than RGBA
        ours = np.asarray(im.convert("RGB"))
    ref = _palette_of(buf.getvalue())
    assert ours.shape == ref.shape == (int(fig.get_figheight() * 150), int(fig.get_figwidth() * 150), 3)
    assert (ours == ref).all()


def test_saving_leaves_the_figure_as_it_was(tmp_path):
    fig = new_figure(4, 3)
    ax = fig.add_subplot()
    ax.plot([0, 1], [1, 0])
    fig.set_facecolor("#eeeeee")
    dpi, face = fig.dpi, fig.get_facecolor()
    paths = savefig(fig, tmp_path / "f", svg=True)
    assert [p.name for p in paths] == ["f.png", "f.svg"] and all(p.stat().st_size > 500 for p in paths)
    assert fig.dpi == dpi and fig.get_facecolor() == face
    with Image.open(paths[0]) as im:
        assert im.size == (600, 450)


def test_a_figure_on_another_canvas_is_saved_too(tmp_path):
    """A figure whose canvas cannot render in memory (here an SVG canvas) goes through matplotlib's savefig:
    the same PNG."""
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    def draw():
        fig = new_figure(4, 3)
        fig.add_subplot().bar(["a", "b"], [1, 2])
        fig.suptitle("two bars")
        return fig

    savefig(draw(), tmp_path / "agg")
    other = draw()
    FigureCanvasSVG(other)
    savefig(other, tmp_path / "svgcanvas")
    a, b = (np.asarray(Image.open(tmp_path / f"{n}.png").convert("RGB")) for n in ("agg", "svgcanvas"))
    assert a.shape == b.shape and (a == b).all()


@pytest.mark.slow
def test_volcano_labels_do_not_depend_on_the_clock(tmp_path, monkeypatch):
    """adjustText stops after 1 s by default: on a busy machine the labels landed elsewhere. The volcano
    moves them until they settle (or an iteration limit), so a slow clock and a fast one give one figure."""
    import adjustText

    rng = np.random.default_rng(3)
    genes = [f"G{i}" for i in range(3000)]
    mg = ["TRPM7", "CNNM2", "CNNM3", "CNNM4", "SLC41A1", "SLC41A3", "MAGT1", "NIPA1", "MRS2", "TUSC3", "ARL15",
          "PTP4A1", "PTP4A2", "CNNM1", "SLC41A2", "MMGT1", "NIPA2"]
    lfc = np.concatenate([rng.normal(0, 0.5, 3000), rng.normal(0, 0.1, len(mg))])
    p = np.concatenate([rng.uniform(1e-8, 1, 3000), rng.uniform(0.3, 1, len(mg))])  # Mg genes crowded at the bottom
    de = pd.DataFrame({"gene": genes + mg, "log2fc": lfc, "pval": p, "qval": np.minimum(1, p * 3)})
    pl.volcano(de, highlight=mg, title="normal clock", save=tmp_path / "normal")
    ticks = iter(range(0, 10**9, 5))  # every reading of the clock: 5 s later
    monkeypatch.setattr(adjustText, "timer", lambda: float(next(ticks)))
    pl.volcano(de, highlight=mg, title="normal clock", save=tmp_path / "busy")
    assert (tmp_path / "normal.png").read_bytes() == (tmp_path / "busy.png").read_bytes()


def test_compact_png_is_a_palette_and_smaller(tmp_path):
    fig = pl.effect_forest(_forest(), title="R1-HCC")
    small = savefig(fig, tmp_path / "small")[0]
    full = savefig(fig, tmp_path / "full", compact=False)[0]
    with Image.open(small) as a, Image.open(full) as b:
        assert a.mode == "P" and b.mode == "RGBA" and a.size == b.size
    assert small.stat().st_size < full.stat().st_size / 2
