"""Small, dependency-free SVG charts for reports (the base install has no plotting library)."""

from __future__ import annotations

from html import escape

BAR = "#4C72B0"
GRID = "#dddddd"


def accuracy_bars(title: str, items: list[tuple[str, float | None, list[float] | None, int]]) -> str:
    """Horizontal accuracy bars (0–100%) with interval whiskers, a 50% chance line and counts."""
    label_w, plot_w, row_h, top = 230, 360, 22, 34
    height = top + row_h * len(items) + 30
    width = label_w + plot_w + 110
    parts = [_open(width, height), _title(title, width)]
    x0 = label_w

    def x(v: float) -> float:
        return x0 + v * plot_w

    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        dash = ' stroke-dasharray="4,3"' if tick == 0.5 else ""
        color = "#999999" if tick == 0.5 else GRID
        parts.append(f'<line x1="{x(tick):.1f}" y1="{top - 4}" x2="{x(tick):.1f}" y2="{height - 24}" stroke="{color}"{dash}/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{height - 10}" font-size="10" text-anchor="middle">{int(tick * 100)}%</text>')
    for i, (label, value, ci, count) in enumerate(items):
        y = top + i * row_h
        parts.append(f'<text x="{x0 - 6}" y="{y + 14}" font-size="11" text-anchor="end">{escape(label)}</text>')
        if value is None:
            continue
        parts.append(f'<rect x="{x0}" y="{y + 4}" width="{value * plot_w:.1f}" height="{row_h - 8}" fill="{BAR}"/>')
        if ci:
            parts.append(f'<line x1="{x(ci[0]):.1f}" y1="{y + row_h / 2}" x2="{x(ci[1]):.1f}" y2="{y + row_h / 2}" stroke="black"/>')
            for end in ci:
                parts.append(f'<line x1="{x(end):.1f}" y1="{y + 6}" x2="{x(end):.1f}" y2="{y + row_h - 6}" stroke="black"/>')
        parts.append(f'<text x="{x(1.0) + 6:.1f}" y="{y + 14}" font-size="11">{100 * value:.1f}% (n={count})</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def heatmap(title: str, rows: list[str], columns: list[str], cells: dict[tuple[str, str], tuple[float, int]]) -> str:
    """Accuracy per (row, column) cell, coloured red (0%) → white (50%) → green (100%); blank where empty."""
    label_w, cell_w, cell_h, top = 200, 74, 30, 54
    width = label_w + cell_w * len(columns) + 10
    height = top + cell_h * len(rows) + 10
    parts = [_open(width, height), _title(title, width)]
    for j, column in enumerate(columns):
        parts.append(f'<text x="{label_w + j * cell_w + cell_w / 2}" y="{top - 8}" font-size="11" text-anchor="middle">{escape(column)}</text>')
    for i, row in enumerate(rows):
        y = top + i * cell_h
        parts.append(f'<text x="{label_w - 6}" y="{y + cell_h / 2 + 4}" font-size="11" text-anchor="end">{escape(row)}</text>')
        for j, column in enumerate(columns):
            x = label_w + j * cell_w
            cell = cells.get((row, column))
            fill = "#f4f4f4" if cell is None else _diverging(cell[0])
            parts.append(f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}"/>')
            if cell is not None:
                parts.append(f'<text x="{x + cell_w / 2 - 1}" y="{y + 13}" font-size="11" text-anchor="middle">{100 * cell[0]:.1f}</text>')
                parts.append(f'<text x="{x + cell_w / 2 - 1}" y="{y + 25}" font-size="9" text-anchor="middle" fill="#555555">n={cell[1]}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _diverging(value: float) -> str:
    value = min(max(value, 0.0), 1.0)
    if value < 0.5:
        t = value / 0.5
        r, g, b = 214 + (255 - 214) * t, 96 + (255 - 96) * t, 77 + (255 - 77) * t
    else:
        t = (value - 0.5) / 0.5
        r, g, b = 255 - (255 - 26) * t, 255 - (255 - 152) * t, 255 - (255 - 80) * t
    return f"#{int(r):02x}{int(g):02x}{int(b):02x}"


def _open(width: int, height: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">')


def _title(text: str, width: int) -> str:
    return f'<text x="{width / 2}" y="18" font-size="13" font-weight="bold" text-anchor="middle">{escape(text)}</text>'
