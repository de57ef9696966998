"""Server-rendered SVG charts: the view computes the geometry, the template draws rects.

No charting library and no script: the charts are plain markup, so they print, scale and
pass a strict Content-Security-Policy. Colours come from classes in app.css.
"""

import math


def _nice_max(value: int) -> int:
    if value <= 5:
        return max(value, 1)
    magnitude = 10 ** int(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = math.ceil(value / (step * magnitude)) * step * magnitude
        if top >= value:
            return int(top)
    return value


def stacked_columns(rows, *, width=640, height=240, left=40, bottom=32, top=12):
    """rows: [(label, filled, unfilled)] -> columns of two stacked rects and y-axis ticks."""
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = _nice_max(max((f + u for _, f, u in rows), default=0))
    slot_w = plot_w / max(len(rows), 1)
    bar_w = slot_w * 0.64
    columns = []
    for i, (label, filled, unfilled) in enumerate(rows):
        x = left + i * slot_w + (slot_w - bar_w) / 2
        filled_h = plot_h * filled / peak
        unfilled_h = plot_h * unfilled / peak
        base = top + plot_h
        columns.append({
            "label": label, "filled": filled, "unfilled": unfilled,
            "x": round(x, 1), "w": round(bar_w, 1), "cx": round(x + bar_w / 2, 1),
            "filled_y": round(base - filled_h, 1), "filled_h": round(filled_h, 1),
            "unfilled_y": round(base - filled_h - unfilled_h, 1),
            "unfilled_h": round(unfilled_h, 1),
            "show_label": len(rows) <= 13 or i % 2 == 0,
        })
    ticks = [{"value": v, "y": round(top + plot_h - plot_h * v / peak, 1)}
             for v in sorted({0, peak // 2 if peak > 1 else 0, peak})]
    return {"width": width, "height": height, "left": left, "right": width - 8,
            "baseline": top + plot_h, "label_y": top + plot_h + 20,
            "columns": columns, "ticks": ticks}


def stacked_bars(rows, *, width=640, label_w=170, row_h=30, limit=15):
    """rows: [(label, filled, unfilled)] -> horizontal stacked bars, the busiest `limit`."""
    rows = list(rows)[:limit]
    plot_w = width - label_w - 56
    peak = max((f + u for _, f, u in rows), default=0) or 1
    bars = []
    for i, (label, filled, unfilled) in enumerate(rows):
        y = 8 + i * row_h
        filled_w = plot_w * filled / peak
        unfilled_w = plot_w * unfilled / peak
        bars.append({
            "label": label, "filled": filled, "unfilled": unfilled,
            "y": y, "h": row_h - 10, "text_y": y + (row_h - 10) / 2 + 5,
            "filled_w": round(filled_w, 1), "unfilled_x": round(label_w + filled_w, 1),
            "unfilled_w": round(unfilled_w, 1),
            "total_x": round(label_w + filled_w + unfilled_w + 6, 1),
        })
    return {"width": width, "height": 16 + len(rows) * row_h, "label_w": label_w,
            "label_x": label_w - 8, "bars": bars}
