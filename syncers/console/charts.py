"""Charts as inline SVG, drawn on the server: no JavaScript library, no network, and they
render in any browser (and in a screenshot) exactly as the HTML arrives.

Every number or text that reaches the markup goes through format_html, so nothing a client
name or an error message contains can break out of the SVG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from syncers.wording import outcome

# One colour per outcome, shared by badges, sparklines and the dashboard legend.
OUTCOME_COLOURS = {
    "succeeded": "#2e7d32",
    "partial": "#f9a825",
    "failed": "#c62828",
    "skipped": "#9e9e9e",
    "stopped": "#6a1b9a",
    "in progress": "#1565c0",
}


def colour(status: str) -> str:
    return OUTCOME_COLOURS[outcome(status)]


@dataclass(frozen=True)
class SparkRun:
    """What a sparkline needs of one run."""

    pk: int
    status: str
    seconds: float | None
    label: str


def sparkline(runs: Sequence[SparkRun], *, width: int = 120, height: int = 22) -> SafeString:
    """Oldest→newest bars; height follows the run's duration, colour its outcome."""
    if not runs:
        return SafeString('<span class="sync-muted">no runs</span>')
    slot = width / max(len(runs), 12)
    longest = max((r.seconds or 0 for r in runs), default=0) or 1
    bars = []
    for i, run in enumerate(runs):
        h = max(3.0, (run.seconds or 0) / longest * (height - 2))
        bars.append(
            (
                f"{i * slot:.1f}",
                f"{height - h:.1f}",
                f"{max(slot - 1.5, 1):.1f}",
                f"{h:.1f}",
                colour(run.status),
                run.label,
            )
        )
    body = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
        bars,
    )
    return format_html(
        '<svg class="sync-sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
        'aria-label="recent runs">{}</svg>',
        width,
        height,
        width,
        height,
        body,
    )


@dataclass(frozen=True)
class Bucket:
    """One bar of a stacked bar chart: its start and the count per outcome."""

    start: datetime
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def stacked_bars(
    buckets: Sequence[Bucket], *, label_format: str, width: int = 960, height: int = 240, title: str = ""
) -> SafeString:
    """Bars per time bucket, stacked by outcome, on a y axis of run counts (0, half, peak, with
    grid lines) and a time axis labelled every few bars. The SVG scales to its panel's width
    (viewBox), so the chart fills the panel and its 12-unit labels stay readable."""
    pad_left, pad_bottom, pad_top = 40, 22, 8
    plot_w, plot_h = width - pad_left, height - pad_bottom
    peak = max((b.total for b in buckets), default=0) or 1
    slot = plot_w / max(len(buckets), 1)
    every = max(1, len(buckets) // 12)
    parts = [_y_axis(peak, pad_left=pad_left, pad_top=pad_top, plot_h=plot_h, width=width)]
    for i, bucket in enumerate(buckets):
        x, y = pad_left + i * slot, float(plot_h)
        for name, fill in OUTCOME_COLOURS.items():
            n = bucket.counts.get(name, 0)
            if not n:
                continue
            h = n / peak * (plot_h - pad_top)
            y -= h
            tip = f"{bucket.start.strftime(label_format)}: {n} {name}"
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
                    f"{x + 1:.1f}",
                    f"{y:.1f}",
                    f"{max(slot - 2, 1):.1f}",
                    f"{h:.1f}",
                    fill,
                    tip,
                )
            )
        if i % every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" font-size="12" fill="#555" text-anchor="middle">{}</text>',
                    f"{x + slot / 2:.1f}",
                    height - 5,
                    bucket.start.strftime(label_format),
                )
            )
    return format_html(
        '<svg class="sync-chart" width="100%" viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>',
        width,
        height,
        title,
        SafeString("".join(parts)),
    )


def _y_axis(peak: int, *, pad_left: int, pad_top: int, plot_h: int, width: int) -> SafeString:
    """Grid lines and labels at 0, half the peak (when a whole number) and the peak."""
    ticks = sorted({0, peak, *([peak // 2] if peak % 2 == 0 and peak > 2 else [])})
    lines = []
    for tick in ticks:
        y = plot_h - tick / peak * (plot_h - pad_top)
        lines.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}"/>'
                '<text x="{}" y="{}" font-size="12" fill="#555" text-anchor="end">{}</text>',
                pad_left,
                f"{y:.1f}",
                width,
                f"{y:.1f}",
                "#999" if tick == 0 else "#e3e3e3",
                pad_left - 6,
                f"{y + 4:.1f}",
                tick,
            )
        )
    return SafeString("".join(lines))


def legend() -> SafeString:
    return format_html_join(
        " ",
        '<span class="sync-legend"><span style="background:{}"></span>{}</span>',
        ((fill, name) for name, fill in OUTCOME_COLOURS.items()),
    )
