"""Server-rendered SVG sparklines for the KPI board and detail page."""

from django import template
from django.utils.html import format_html, format_html_join

register = template.Library()


@register.simple_tag
def sparkline(points, width=220, height=44, target=None):
    """An inline SVG polyline of `points` ([{"value", "anomaly", "at"}]), anomaly dots, optional target line."""
    values = [float(p["value"]) for p in points]
    if len(values) < 2:
        return format_html('<svg class="spark" width="{}" height="{}" role="img" aria-label="no history">'
                           '<text x="4" y="{}" font-size="11" fill="#6e7781">no history yet</text></svg>',
                           width, height, height // 2 + 4)
    pad = 4
    scale_values = values + ([float(target)] if target is not None else [])
    low, high = min(scale_values), max(scale_values)
    span = (high - low) or 1.0

    def xy(index, value):
        x = pad + index * (width - 2 * pad) / (len(values) - 1)
        y = height - pad - (value - low) * (height - 2 * pad) / span
        return round(x, 1), round(y, 1)

    coords = [xy(i, v) for i, v in enumerate(values)]
    line = " ".join(f"{x},{y}" for x, y in coords)
    target_line = ""
    if target is not None:
        _, ty = xy(0, float(target))
        target_line = format_html('<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#8c959f" stroke-dasharray="3 3"/>',
                                  pad, width - pad, ty, ty)
    dots = format_html_join(
        "", '<circle cx="{}" cy="{}" r="3.5" fill="#cf222e" class="anomaly"><title>{} on {}: {}</title></circle>',
        ((x, y, p["anomaly"], f"{p['at']:%Y-%m-%d}" if hasattr(p["at"], "strftime") else p["at"], p["value"])
         for (x, y), p in zip(coords, points, strict=True) if p.get("anomaly")),
    )
    return format_html(
        '<svg class="spark" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{} daily values">'
        '{}<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{}"/>{}</svg>',
        width, height, width, height, len(values), target_line, line, dots,
    )
