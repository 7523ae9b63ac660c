"""The look of every figure: font sizes and matplotlib settings, wrapped labels and titles,
tick labels with group sizes, legends outside the data.

- :data:`RC` are the matplotlib settings every ``pl`` function draws under (text readable
  at 100% zoom when the PNG is shown at 2/3 of its pixel size, as the report does).
- ``_tick_labels`` (group and n, rotated when they would not fit) and ``_legend_outside``
  place the labels of the sample-level plots.

The words themselves (group and set names, units, colours, p-values) live in
:mod:`mgtranscript._words`, which the report shares.
"""

from __future__ import annotations

import functools

from .._words import group_label


#: matplotlib settings for every figure of :mod:`mgtranscript.pl`.
RC: dict = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "svg.fonttype": "none",
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
}


def styled(func):
    """Run a plotting function under :data:`RC` (no global matplotlib state is changed)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from matplotlib import rc_context  # noqa: PLC0415

        with rc_context(RC):
            return func(*args, **kwargs)

    return wrapper


def wrap(text: str, width: int = 40) -> str:
    """Wrap a label on word boundaries (matplotlib does not)."""
    import textwrap  # noqa: PLC0415

    return "\n".join(textwrap.wrap(str(text), width=width, break_long_words=False, break_on_hyphens=False)) \
        or str(text)


def two_lines(text: str, width: int = 40) -> str:
    """Wrap a label on word boundaries into at most two lines (wider lines rather than a third one)."""
    text = " ".join(str(text).split())
    w = max(width, (len(text) + 1) // 2)
    out = wrap(text, w)
    while out.count("\n") > 1:
        w += 2
        out = wrap(text, w)
    return out


def suptitle(fig, text: str | None) -> None:
    """A figure title wrapped to the figure's width (12 pt bold: about 7.5 characters per inch)."""
    if not text:
        return
    width = fig.get_size_inches()[0]
    fig.suptitle(wrap(text, max(24, int(width * 7.5))))


def _tick_labels(levels, counts, width_in: float | None = None) -> tuple[list[str], bool]:
    """Tick labels "group (n=..)" and whether they must be rotated to fit ``width_in`` inches."""
    labels = [f"{group_label(lv)}\n(n={c})" for lv, c in zip(levels, counts)]
    longest = max((len(group_label(lv)) for lv in levels), default=0)
    if width_in is None:
        rotate = len(levels) > 4 or longest > 11
    else:  # 9 pt text: about 0.068 in per character, plus a gap
        rotate = len(levels) * (longest * 0.068 + 0.1) > width_in * 0.9
    return labels, rotate


def _legend_outside(ax_or_fig, handles, title: str | None = None) -> None:
    if not handles:
        return
    target = ax_or_fig
    if hasattr(target, "legend") and hasattr(target, "transAxes"):
        target.legend(handles=handles, title=title, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                      frameon=False, borderaxespad=0.0)
    else:
        target.legend(handles=handles, title=title, loc="outside right center", frameon=False)
