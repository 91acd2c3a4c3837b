"""Page geometry for the printed atlas: a sheet measured in millimetres, with text helpers.

Every page is designed on an A4 landscape sheet (297 × 210 mm); the A3 format is the same design
enlarged (fonts included), which is how planners print an A4 layout on A3.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure

DESIGN_W, DESIGN_H = 297.0, 210.0
PAPERS = {"A4": (297.0, 210.0), "A3": (420.0, 297.0)}
MM_PER_INCH = 25.4
PT_TO_MM = 0.3528

INK = "#1b2631"
GREY = "#5f6a6a"
LIGHT = "#d5d8dc"
ACCENT = "#b03a2e"
RESTRICTED = "#c0392b"


@dataclass
class Sheet:
    """One page: a matplotlib figure addressed in design millimetres from the top-left corner."""

    fig: Figure
    scale: float  # font scale (1 for A4, ~1.41 for A3)
    paper: str = "A4"

    @classmethod
    def new(cls, paper: str) -> Sheet:
        width, height = PAPERS[paper]
        fig = Figure(figsize=(width / MM_PER_INCH, height / MM_PER_INCH))
        return cls(fig=fig, scale=width / DESIGN_W, paper=paper)

    # coordinates ---------------------------------------------------------------------------
    def fx(self, x: float) -> float:
        return x / DESIGN_W

    def fy(self, y: float) -> float:
        return 1 - y / DESIGN_H

    def axes(self, x: float, y: float, w: float, h: float, **kw: Any):
        """Axes occupying the box (x, y, w, h) in mm, y from the top."""
        return self.fig.add_axes((self.fx(x), self.fy(y + h), w / DESIGN_W, h / DESIGN_H), **kw)

    # drawing -------------------------------------------------------------------------------
    def text(self, x: float, y: float, s: str, size: float = 8, **kw: Any):
        kw.setdefault("color", INK)
        kw.setdefault("va", "baseline")
        return self.fig.text(self.fx(x), self.fy(y), s, fontsize=size * self.scale, **kw)

    def rect(self, x: float, y: float, w: float, h: float, **kw: Any) -> None:
        from matplotlib.patches import Rectangle

        kw.setdefault("linewidth", 0)
        self.fig.add_artist(Rectangle((self.fx(x), self.fy(y + h)), w / DESIGN_W, h / DESIGN_H,
                                      transform=self.fig.transFigure, **kw))

    def renderer(self):
        """A renderer to measure text. Attached only where needed: geopandas asks the canvas to
        redraw after each plot, which an Agg canvas would do for real, page after page."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        return FigureCanvasAgg(self.fig).get_renderer()

    def mm_x(self, pixels: float, renderer) -> float:
        """A display x coordinate (from an artist's extent) in design mm."""
        return pixels / (self.fig.get_figwidth() * self.fig.dpi) * DESIGN_W

    def hline(self, x0: float, x1: float, y: float, colour: str = LIGHT, width: float = 0.6,
              style: Any = "-") -> None:
        from matplotlib.lines import Line2D

        self.fig.add_artist(Line2D([self.fx(x0), self.fx(x1)], [self.fy(y), self.fy(y)],
                                   transform=self.fig.transFigure, color=colour,
                                   linewidth=width * self.scale, linestyle=style))

    def paragraph(self, x: float, y: float, width: float, s: str, size: float = 7.5,
                  leading: float = 1.3, max_lines: int | None = None, **kw: Any) -> float:
        """Wrapped text from (x, y); returns the y below the last line."""
        lines = wrap(s, width, size)
        if max_lines is not None and len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = lines[-1].rstrip(" .,;") + " …"
        step = line_height(size, leading)
        for line in lines:
            self.text(x, y, line, size, **kw)
            y += step
        return y


def line_height(size: float, leading: float = 1.3) -> float:
    """Height of one text line in design mm."""
    return size * PT_TO_MM * leading


def wrap(s: str, width_mm: float, size: float) -> list[str]:
    """Lines of ``s`` fitting ``width_mm`` at ``size`` pt (DejaVu Sans' average advance)."""
    chars = max(8, int(width_mm / (size * PT_TO_MM * 0.56)))
    out: list[str] = []
    for part in str(s).split("\n"):
        out.extend(textwrap.wrap(part, chars, break_on_hyphens=False) or [""])
    return out


# -- tables (shared by the atlas' annex and the bilan annuel) ----------------------------------

Column = tuple[str, float, str]  # title, width in mm, alignment ("left" / "right" / "center")


def cell_lines(text: str, width: float, size: float, max_lines: int = 3) -> list[str]:
    """A cell's text wrapped to its column (at most ``max_lines``, the last one cut with …)."""
    lines = wrap(text, width - 2.0, size)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip(" .,;") + " …"
    return lines


def row_height(row: list[str], columns: list[Column], size: float) -> float:
    return max(len(cell_lines(c, w, size)) for c, (_, w, _) in zip(row, columns, strict=True)) \
        * line_height(size, 1.25) + 1.4


def paginate_rows(rows: list[list[str]], columns: list[Column], size: float,
                  heights: list[float]) -> list[list[list[str]]]:
    """Rows split into pages: page k holds at most ``heights[k]`` mm (the last height repeats)."""
    pages: list[list[list[str]]] = [[]]
    used = 0.0
    for row in rows:
        h = row_height(row, columns, size)
        room = heights[min(len(pages) - 1, len(heights) - 1)]
        if pages[-1] and used + h > room:
            pages.append([])
            used = 0.0
        pages[-1].append(row)
        used += h
    return pages


def draw_table(sheet: Sheet, x: float, y: float, columns: list[Column], rows: list[list[str]],
               size: float = 6.8, bold: set[int] | None = None) -> float:
    """A table with a header rule, zebra rows and wrapped cells; returns the y below it."""
    bold = bold or set()
    step = line_height(size, 1.25)
    cx = x
    for title, width, align in columns:
        tx = cx + (width - 1 if align == "right" else width / 2 if align == "center" else 1)
        sheet.text(tx, y, title, size, weight="bold", color=GREY, ha=align)
        cx += width
    total = sum(w for _, w, _ in columns)
    y += 1.6
    sheet.hline(x, x + total, y, colour=INK, width=0.6)
    y += 0.6
    for k, row in enumerate(rows):
        h = row_height(row, columns, size)
        if k % 2:
            sheet.rect(x, y, total, h, facecolor="#f4f6f7")
        cx = x
        for text, (_, width, align) in zip(row, columns, strict=True):
            tx = cx + (width - 1 if align == "right" else width / 2 if align == "center" else 1)
            for i, line in enumerate(cell_lines(text, width, size)):
                sheet.text(tx, y + step * (i + 1) - 0.4, line, size, ha=align,
                           weight="bold" if k in bold else "normal")
            cx += width
        y += h
    sheet.hline(x, x + total, y, colour=LIGHT, width=0.5)
    return y + 2
