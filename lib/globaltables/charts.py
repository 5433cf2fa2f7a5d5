"""Plotly figures, pure functions of data. Importing this module sets the renderer: figures are saved in
the notebooks as plotly's JSON, which JupyterLab draws; the HTML report draws them with plotly.js, once."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

# The figure's JSON only: JupyterLab draws it (plotly's lab extension), and the report turns it into
# HTML with plotly.js embedded once. The "notebook" renderer would add plotly.js (5 MB) to every
# notebook, which papermill then rewrites after each cell.
pio.renderers.default = "plotly_mimetype"

# Approximate locations of AWS regions (city of the region), for the replication map.
REGION_COORDINATES: dict[str, tuple[float, float]] = {
    "us-east-1": (38.9, -77.4),
    "us-east-2": (40.0, -83.0),
    "us-west-1": (37.4, -121.9),
    "us-west-2": (45.8, -119.7),
    "ca-central-1": (45.5, -73.6),
    "ca-west-1": (51.0, -114.1),
    "mx-central-1": (20.6, -100.4),
    "sa-east-1": (-23.5, -46.6),
    "eu-west-1": (53.3, -6.3),
    "eu-west-2": (51.5, -0.1),
    "eu-west-3": (48.9, 2.4),
    "eu-central-1": (50.1, 8.7),
    "eu-central-2": (47.4, 8.5),
    "eu-north-1": (59.3, 18.1),
    "eu-south-1": (45.5, 9.2),
    "eu-south-2": (41.6, -0.9),
    "il-central-1": (32.1, 34.8),
    "me-south-1": (26.1, 50.6),
    "me-central-1": (25.2, 55.3),
    "af-south-1": (-33.9, 18.4),
    "ap-east-1": (22.3, 114.2),
    "ap-east-2": (25.0, 121.5),
    "ap-south-1": (19.1, 72.9),
    "ap-south-2": (17.4, 78.5),
    "ap-northeast-1": (35.7, 139.7),
    "ap-northeast-2": (37.6, 127.0),
    "ap-northeast-3": (34.7, 135.5),
    "ap-southeast-1": (1.35, 103.8),
    "ap-southeast-2": (-33.9, 151.2),
    "ap-southeast-3": (-6.2, 106.8),
    "ap-southeast-4": (-37.8, 145.0),
    "ap-southeast-5": (3.1, 101.7),
    "ap-southeast-6": (-36.8, 174.8),
    "ap-southeast-7": (13.8, 100.5),
}


def _add_witness(figure: go.Figure, regions: list[str], witness: str, statuses: dict[str, str]) -> None:
    """A strong table's witness: a grey diamond, with a dashed link from every replica."""
    lat_w, lon_w = REGION_COORDINATES.get(witness, (0, 0))
    for region in regions:
        lat, lon = REGION_COORDINATES.get(region, (0, 0))
        figure.add_trace(
            go.Scatter(
                x=[lon, lon_w],
                y=[lat, lat_w],
                mode="lines",
                line={"width": 1.5, "color": "#879596", "dash": "dash"},
                hoverinfo="text",
                text=f"{region} → {witness} (witness)",
                showlegend=False,
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[lon_w],
            y=[lat_w],
            mode="markers+text",
            text=[f"{witness} (witness)<br>{statuses.get(witness, '')}"],
            textposition="bottom center",
            marker={"size": 12, "color": "#879596", "symbol": "diamond"},
            showlegend=False,
        )
    )


def replication_map(
    regions: list[str], statuses: dict[str, str] | None = None, witness: str | None = None, mode: str | None = None
) -> go.Figure:
    """The regions placed by longitude and latitude, the primary marked, a line for every replication
    link (all pairs: every replica replicates to every other). A strong table's ``witness`` is a grey
    marker with dashed links to the replicas: it receives their changes and votes in each write's quorum,
    but serves no reads or writes. ``mode`` (e.g. "strong (MRSC)") goes into the title. A plain diagram,
    not a geographic map: a basemap would be fetched from a CDN, and this must render offline."""
    statuses = statuses or {}
    figure = go.Figure()
    if witness:
        _add_witness(figure, regions, witness, statuses)
    for a, b in combinations(regions, 2):
        (lat_a, lon_a), (lat_b, lon_b) = REGION_COORDINATES.get(a, (0, 0)), REGION_COORDINATES.get(b, (0, 0))
        figure.add_trace(
            go.Scatter(
                x=[lon_a, lon_b],
                y=[lat_a, lat_b],
                mode="lines",
                line={"width": 2, "color": "#3F8624"},
                hoverinfo="text",
                text=f"{a} ⇄ {b}",
                showlegend=False,
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[REGION_COORDINATES.get(r, (0, 0))[1] for r in regions],
            y=[REGION_COORDINATES.get(r, (0, 0))[0] for r in regions],
            mode="markers+text",
            text=[f"{r}{' (primary)' if i == 0 else ''}<br>{statuses.get(r, '')}" for i, r in enumerate(regions)],
            textposition="top center",
            marker={"size": [18] + [14] * (len(regions) - 1), "color": ["#FF9900"] + ["#E7157B"] * (len(regions) - 1)},
            showlegend=False,
        )
    )
    figure.update_layout(
        title="Replicas and replication links" + (f": {mode}" if mode else ""),
        xaxis={"title": "longitude", "range": [-180, 180], "zeroline": False},
        yaxis={"title": "latitude", "range": [-60, 75], "zeroline": False},
        height=420,
    )
    return figure


def items_over_time(samples: Iterable[Any], expected: int) -> go.Figure:
    """Items visible per region while seeding and replication run (samples: seconds, region, items)."""
    by_region: dict[str, list[Any]] = defaultdict(list)
    for sample in samples:
        by_region[sample.region].append(sample)
    figure = go.Figure()
    for region, points in by_region.items():
        figure.add_trace(
            go.Scatter(x=[p.seconds for p in points], y=[p.items for p in points], mode="lines+markers", name=region)
        )
    figure.add_hline(y=expected, line_dash="dot", annotation_text=f"{expected} items written")
    figure.update_layout(
        title="Items visible per replica over time",
        xaxis_title="seconds since seeding began",
        yaxis_title="items (COUNT scan)",
        height=400,
    )
    return figure


def lag_distribution(samples: Iterable[Any]) -> go.Figure:
    """Replication lag per sending → receiving pair, as box plots with every sample shown."""
    by_pair: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        by_pair[f"{sample.source} → {sample.receiving}"].append(sample.lag_ms)
    figure = go.Figure()
    for pair, lags in sorted(by_pair.items()):
        figure.add_trace(go.Box(y=lags, name=pair, boxpoints="all", jitter=0.4))
    figure.update_layout(
        title="Replication lag seen by canary writes",
        yaxis_title="ms from write to visibility",
        showlegend=False,
        height=420,
    )
    return figure


def lag_over_time(samples: Iterable[Any]) -> go.Figure:
    by_pair: dict[str, list[Any]] = defaultdict(list)
    for sample in samples:
        by_pair[f"{sample.source} → {sample.receiving}"].append(sample)
    figure = go.Figure()
    for pair, points in sorted(by_pair.items()):
        points.sort(key=lambda s: s.at)
        figure.add_trace(
            go.Scatter(x=[p.at for p in points], y=[p.lag_ms for p in points], mode="lines+markers", name=pair)
        )
    figure.update_layout(title="Replication lag over time", yaxis_title="ms", height=380)
    return figure


def probe_vs_metric(samples: Iterable[Any], metric_rows: Iterable[dict[str, Any]]) -> go.Figure:
    """Average lag per pair: what the canaries measured beside what CloudWatch's ReplicationLatency says."""
    probe: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        probe[f"{sample.source} → {sample.receiving}"].append(sample.lag_ms)
    metric: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for row in metric_rows:
        metric[f"{row['source']} → {row['receiving']}"].append((row["average_ms"], row["samples"]))
    pairs = sorted(set(probe) | set(metric))
    figure = go.Figure(
        [
            go.Bar(
                name="canary probe (client)",
                x=pairs,
                y=[sum(probe[p]) / len(probe[p]) if probe[p] else None for p in pairs],
            ),
            go.Bar(
                name="CloudWatch ReplicationLatency",
                x=pairs,
                y=[
                    sum(a * n for a, n in metric[p]) / sum(n for _, n in metric[p]) if metric[p] else None
                    for p in pairs
                ],
            ),
        ]
    )
    figure.update_layout(
        barmode="group", title="Average replication lag: probe and metric", yaxis_title="ms", height=400
    )
    return figure


# The tail axis of HdrHistogram's plotter: a percentile p sits at 1/(1-p), on a log scale, so that each
# "nine" (90 %, 99 %, 99.9 %, ...) takes the same width and the tail is as readable as the median.
TAIL_TICKS = {1: "0%", 2: "50%", 10: "90%", 100: "99%", 1_000: "99.9%", 10_000: "99.99%", 100_000: "99.999%"}


def tail_position(percentile: float) -> float | None:
    """Where a percentile (0 to 100) sits on the tail axis: 1/(1-p); None for 100 %, which is infinitely far."""
    return None if percentile >= 100 else 1 / (1 - percentile / 100)


def latency_cdf(results: Iterable[Any]) -> go.Figure:
    """Latency by percentile per region and operation, HdrHistogram's plot: the whole distribution (every
    step of the percentile iteration, ``RegionResult.cdf``) against a log-scaled tail axis labelled 50 %,
    90 %, 99 %, 99.9 %, ... The maximum (100 %) has no place on that axis: it is in each line's name."""
    figure = go.Figure()
    furthest = 100.0
    for result in results:
        for operation, points in result.cdf.items():
            finite = [(tail_position(p), p, ms) for p, ms in points if p < 100]
            if not finite:
                continue
            furthest = max(furthest, finite[-1][0])
            figure.add_trace(
                go.Scatter(
                    x=[x for x, _, _ in finite],
                    y=[ms for _, _, ms in finite],
                    customdata=[p for _, p, _ in finite],
                    hovertemplate="p%{customdata:.4g}: %{y} ms",
                    mode="lines",
                    name=f"{result.region} {operation} (max {max(ms for _, ms in points):g} ms)",
                )
            )
    # The axis runs to the next "nine" past the furthest point, so that the tail's label is on the axis.
    end = next((x for x in TAIL_TICKS if x >= furthest * 1.2), furthest * 1.5)
    ticks = [x for x in TAIL_TICKS if x <= end]
    figure.update_layout(
        title="Latency by percentile (HdrHistogram)",
        xaxis={
            "title": "percentile",
            "type": "log",
            "tickvals": ticks,
            "ticktext": [TAIL_TICKS[x] for x in ticks],
            "range": [0, math.log10(end)],
        },
        yaxis_title="ms",
        height=420,
    )
    return figure


def function_latency(invocations: Iterable[Any], regions: list[str]) -> go.Figure:
    """Milliseconds of one ``PutItem`` made by the function deployed in each region (row, one Invocation
    each) against the replica in each region (column); blank where the function did not answer for it."""
    invocations = list(invocations)
    latency = [
        [call.result.get("results", {}).get(target, {}).get("write_ms") for target in regions] for call in invocations
    ]
    figure = go.Figure(
        go.Heatmap(
            z=latency,
            x=regions,
            y=[f"function in {call.function_region}" for call in invocations],
            colorscale="Oranges",
            text=latency,
            texttemplate="%{text} ms",
        )
    )
    return figure.update_layout(title="PutItem latency from the function (ms)", height=380)


def percentile_bars(results: Iterable[Any]) -> go.Figure:
    results = list(results)
    figure = go.Figure()
    for percentile in ("p50", "p95", "p99", "p99.9"):
        labels, values = [], []
        for result in results:
            for stats in result.operations:
                labels.append(f"{result.region} {stats.operation}")
                values.append(stats.percentiles_ms[percentile])
        figure.add_trace(go.Bar(name=percentile, x=labels, y=values))
    figure.update_layout(
        barmode="group", title="Latency percentiles per region and operation", yaxis_title="ms", height=420
    )
    return figure


def throughput_over_time(results: Iterable[Any]) -> go.Figure:
    figure = go.Figure()
    for result in results:
        for operation, counts in result.per_second.items():
            seconds = int(result.measured_s)
            figure.add_trace(
                go.Scatter(
                    x=list(range(seconds)), y=counts[:seconds], mode="lines", name=f"{result.region} {operation}"
                )
            )
    figure.update_layout(
        title="Throughput over time (after warm-up)",
        xaxis_title="second",
        yaxis_title="operations per second",
        height=380,
    )
    return figure


def convergence(samples: Iterable[Any]) -> go.Figure:
    """Keys on which the replicas still disagree, over time, until they converge."""
    samples = list(samples)
    figure = go.Figure(
        go.Scatter(
            x=[s.seconds for s in samples],
            y=[s.diverging_keys for s in samples],
            mode="lines+markers",
            name="keys not yet identical",
        )
    )
    figure.update_layout(
        title="Convergence after concurrent conflicting writes",
        xaxis_title="seconds after the writes",
        yaxis_title="keys whose replicas differ",
        height=380,
    )
    return figure


def winners(counts: dict[str, int]) -> go.Figure:
    figure = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), marker_color="#E7157B"))
    figure.update_layout(title="Which region's write won, per item", yaxis_title="items", height=360)
    return figure


def for_mode(figure: go.Figure, mode: str) -> go.Figure:
    """A copy of ``figure`` whose title names the table's mode (e.g. "strong (MRSC)"), so that a chart
    read on its own says which mode its figures are for."""
    titled = go.Figure(figure)
    title = titled.layout.title.text or ""
    return titled.update_layout(title=f"{title}: {mode} table" if title else f"{mode} table")


# What each bar of ``contended_outcome`` counts, per region (the attribute of a RegionTally) and its colour.
CONTENDED_BARS = (
    ("writes", "writes acknowledged", "#3F8624"),
    ("conflicts_retried", "write conflicts retried", "#FF9900"),
    ("lost_updates", "updates lost", "#D13212"),
    ("stale_reads", "stale reads in the next region", "#879596"),
)


def contended_outcome(outcome: Any) -> go.Figure:
    """One mode's contended workload (a ContendedOutcome): per writing region, the writes acknowledged,
    the write conflicts retried, the updates lost and the reads right after a write that missed it."""
    regions = [tally.region for tally in outcome.per_region]
    figure = go.Figure(
        [
            go.Bar(name=label, x=regions, y=[getattr(tally, field) for tally in outcome.per_region], marker_color=color)
            for field, label, color in CONTENDED_BARS
        ]
    )
    lost, stale, conflicts = (outcome.total(f) for f in ("lost_updates", "stale_reads", "conflicts_retried"))
    writes = outcome.total("writes")
    figure.update_layout(
        barmode="group",
        title=f"{outcome.label}: {writes} writes, {conflicts} conflicts retried, {lost} lost, {stale} stale reads",
        xaxis_title="writing region",
        yaxis_title="count",
        height=380,
    )
    return figure


def drill_timeline(result: Any) -> go.Figure:
    """A drill (a DrillResult) over time: each acknowledged write at the moment it was acknowledged, on the
    row of the region that acknowledged it, coloured by the region whose traffic it is; failed writes as
    crosses; the fault shaded; the RPO's writes (only in the failed region at the cut) circled in red."""
    figure = go.Figure()
    for home in result.regions:
        mine = [w for w in result.writes if w.home == home]
        figure.add_trace(
            go.Scatter(
                x=[w.acknowledged_s for w in mine],
                y=[w.region for w in mine],
                mode="markers",
                marker={"size": 6},
                name=f"{home}'s traffic",
            )
        )
    if result.failures:
        figure.add_trace(
            go.Scatter(
                x=[f.at_s for f in result.failures],
                y=[f.region for f in result.failures],
                mode="markers",
                marker={"symbol": "x", "size": 8, "color": "#D13212"},
                name="refused or failed",
            )
        )
    if result.at_risk:
        figure.add_trace(
            go.Scatter(
                x=[w.acknowledged_s for w in result.at_risk],
                y=[w.region for w in result.at_risk],
                mode="markers",
                marker={"symbol": "circle-open", "size": 13, "color": "#D13212", "line": {"width": 2}},
                name=f"RPO: {len(result.at_risk)} only in {result.failed_region} at the cut",
            )
        )
    figure.add_vrect(
        x0=result.fault_started_s,
        x1=result.fault_ended_s,
        fillcolor="#FF9900",
        opacity=0.15,
        line_width=0,
        annotation_text="cut off" if result.drill == "evacuation" else "replication paused",
    )
    if result.rto_s is not None:
        figure.add_vline(
            x=result.fault_started_s + result.rto_s,
            line_dash="dot",
            annotation_text=f"RTO {result.rto_s * 1000:.0f} ms",
            annotation_position="bottom right",
        )
    figure.update_layout(
        title=f"{result.drill.capitalize()} of {result.failed_region}: writes acknowledged, by region",
        xaxis_title="seconds after the writers started",
        yaxis={"title": "acknowledged in", "categoryorder": "array", "categoryarray": list(result.regions)[::-1]},
        height=380,
    )
    return figure


def drill_catch_up(result: Any) -> go.Figure:
    """After a drill's fault ended: per region, the acknowledged writes it did not hold yet, until none."""
    samples = result.catch_up.samples
    figure = go.Figure(
        [
            go.Scatter(
                x=[0.0, *[s.seconds for s in samples]],
                y=[result.behind.get(region, 0), *[s.missing.get(region, 0) for s in samples]],
                mode="lines+markers",
                name=region,
            )
            for region in result.regions
        ]
    )
    figure.update_layout(
        title=f"Catching up after the {result.drill} drill",
        xaxis_title="seconds after the fault ended (0: when it ended)",
        yaxis_title="acknowledged writes not yet there",
        height=360,
    )
    return figure
