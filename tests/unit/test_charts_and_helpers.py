"""Charts are pure functions of data; the polling helper, progress bars and the report behave."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from globaltables import charts
from globaltables.monitoring import LagSample
from globaltables.progress import progress
from globaltables.seeding import ReplicationSample
from globaltables.waiting import WaitTimeout, wait_until


def test_replication_map_links_every_pair_and_marks_the_primary():
    figure = charts.replication_map(["us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1"])
    lines = [t for t in figure.data if t.mode == "lines"]
    assert len(lines) == 6  # every replica replicates to every other
    markers = figure.data[-1]
    assert markers.text[0].startswith("us-east-1 (primary)")
    assert all(region in charts.REGION_COORDINATES for region in ["us-east-1", "eu-west-1", "ap-southeast-1"])


def test_lag_charts_group_samples_by_region_pair():
    now = datetime.now(UTC)
    samples = [
        LagSample(round=r, source=s, receiving=d, lag_ms=10.0 * (r + 1), at=now)
        for r in range(3)
        for s, d in [("us-east-1", "eu-west-1"), ("eu-west-1", "us-east-1")]
    ]
    box = charts.lag_distribution(samples)
    assert sorted(t.name for t in box.data) == ["eu-west-1 → us-east-1", "us-east-1 → eu-west-1"]
    assert list(box.data[0].y) == [10.0, 20.0, 30.0]
    metric_rows = [{"source": "us-east-1", "receiving": "eu-west-1", "average_ms": 50.0, "samples": 2}]
    bars = charts.probe_vs_metric(samples, metric_rows)
    probe, metric = bars.data
    assert list(probe.x) == ["eu-west-1 → us-east-1", "us-east-1 → eu-west-1"]
    assert list(probe.y) == [20.0, 20.0] and list(metric.y) == [None, 50.0]


def test_items_over_time_has_a_line_per_region():
    samples = [ReplicationSample(seconds=s / 10, region=r, items=s * 10) for s in range(5) for r in ("a", "b")]
    figure = charts.items_over_time(samples, expected=40)
    assert [t.name for t in figure.data] == ["a", "b"]


def test_wait_until_returns_the_state_or_times_out_with_it():
    states = iter([(False, "CREATING"), (False, "CREATING"), (True, "ACTIVE")])
    seen = []
    assert wait_until(lambda: next(states), "replica ACTIVE", 5, 0.001, on_poll=seen.append) == "ACTIVE"
    assert seen == ["CREATING", "CREATING", "ACTIVE"]
    with pytest.raises(WaitTimeout, match="replica ACTIVE: not reached within 0.01 s; last seen: 'CREATING'"):
        wait_until(lambda: (False, "CREATING"), "replica ACTIVE", 0.01, 0.001)


def test_progress_is_plain_text_in_batch_runs(monkeypatch, capsys):
    monkeypatch.setenv("GLOBALTABLES_BATCH", "1")
    assert list(progress(range(3), desc="regions")) == [0, 1, 2]
    assert "regions: 100%" in capsys.readouterr().out


def test_report_draws_each_figure_with_plotly_js_included_once():
    from globaltables.report import PLOTLY_MIMETYPE, _figures_as_html

    # A notebook executed by an earlier version carries the plotly.js bundle: dropped, the head has it.
    bundle = {"output_type": "display_data", "data": {"text/html": "<script>/** plotly.js v4 */" + "x" * 600_000}}
    figure_json = charts.winners({"us-east-1": 3, "eu-west-1": 4}).to_plotly_json()
    shown = {"output_type": "display_data", "data": {PLOTLY_MIMETYPE: figure_json, "text/plain": "Figure"}}
    cells = [{"cell_type": "code", "outputs": [dict(bundle), {**shown, "data": dict(shown["data"])}]} for _ in range(3)]
    _figures_as_html(cells)
    assert [len(c["outputs"]) for c in cells] == [1, 1, 1]
    html_form = cells[0]["outputs"][0]["data"]["text/html"]
    assert "Plotly.newPlot" in html_form and "plotly.js v" not in html_form


def test_a_chart_for_a_mode_names_it_in_its_title_and_leaves_the_original_alone():
    import plotly.graph_objects as go

    original = go.Figure().update_layout(title="Latency percentiles")
    titled = charts.for_mode(original, "strong (MRSC)")
    assert titled.layout.title.text == "Latency percentiles: strong (MRSC) table"
    assert original.layout.title.text == "Latency percentiles"


def test_a_contended_outcome_chart_has_a_bar_group_per_region_and_its_totals_in_the_title():
    from globaltables.conflicts import ContendedOutcome, RegionTally

    outcome = ContendedOutcome(
        consistency="eventual",
        table_name="t",
        scenario="s",
        keys=2,
        per_region=[
            RegionTally(region="us-east-1", writes=4, reads=4, stale_reads=3, lost_updates=1),
            RegionTally(region="eu-west-1", writes=4, reads=4, stale_reads=4, lost_updates=2),
        ],
        converged_after_s=0.3,
        identical_everywhere=True,
        values_nobody_wrote=0,
    )
    figure = charts.contended_outcome(outcome)
    assert [trace.name for trace in figure.data] == [label for _, label, _ in charts.CONTENDED_BARS]
    lost = next(trace for trace in figure.data if trace.name == "updates lost")
    assert list(lost.x) == ["us-east-1", "eu-west-1"] and list(lost.y) == [1, 2]
    assert figure.layout.title.text == "eventual (MREC): 8 writes, 0 conflicts retried, 3 lost, 7 stale reads"


def recorded_region(region, values_us):
    from globaltables.loadgen import new_histogram
    from globaltables.perf import distribution

    histogram = new_histogram()
    for value in values_us:
        histogram.record_value(value)
    return SimpleNamespace(region=region, cdf={"read": distribution(histogram), "write": []})


def test_the_latency_chart_draws_the_whole_hdr_distribution_on_a_tail_axis():
    # 10 000 reads: 9 990 at about 1 ms, then a tail of 10 slower ones up to 500 ms.
    us_east = recorded_region("us-east-1", [1000] * 9990 + [50_000 * k for k in range(1, 11)])
    eu_west = recorded_region("eu-west-1", [2000] * 100)
    figure = charts.latency_cdf([us_east, eu_west])
    assert [trace.name.split(" (")[0] for trace in figure.data] == ["us-east-1 read", "eu-west-1 read"]  # no empty line
    trace = figure.data[0]
    assert len(trace.x) > 40  # every step of the percentile iteration, not seven points
    assert trace.x[0] == 1.0 and list(trace.x) == sorted(trace.x)  # 0 % at 1/(1-0), then 1/(1-p)
    assert max(trace.x) > 1000 and max(trace.y) > 400  # the tail past p99.9 is drawn, up to the slow calls
    assert "max 500" in trace.name  # 100 % (infinitely far on this axis) is named, not drawn
    axis = figure.layout.xaxis
    assert axis.type == "log"
    assert dict(zip(axis.tickvals, axis.ticktext, strict=True))[1000] == "99.9%"
    assert {"50%", "90%", "99%", "99.9%", "99.99%"} <= set(axis.ticktext)


def test_the_latency_chart_still_draws_a_run_recorded_with_fixed_percentiles():
    older = SimpleNamespace(region="us-east-1", cdf={"read": [(0.0, 1.0), (50, 2.0), (99.9, 9.0), (100.0, 12.0)]})
    trace = charts.latency_cdf([older]).data[0]
    assert list(trace.x) == pytest.approx([1.0, 2.0, 1000.0]) and list(trace.y) == [1.0, 2.0, 9.0]


def test_the_function_latency_heatmap_has_a_row_per_function_and_a_column_per_replica():
    regions = ["us-east-1", "eu-west-1"]
    invocations = [
        SimpleNamespace(
            function_region="us-east-1",
            result={"results": {"us-east-1": {"write_ms": 3.0}, "eu-west-1": {"write_ms": 80.0}}},
        ),
        SimpleNamespace(function_region="eu-west-1", result={"results": {"us-east-1": {"write_ms": 81.0}}}),
    ]
    heatmap = charts.function_latency(invocations, regions).data[0]
    assert list(heatmap.x) == regions
    assert list(heatmap.y) == ["function in us-east-1", "function in eu-west-1"]
    assert [list(row) for row in heatmap.z] == [[3.0, 80.0], [81.0, None]]  # blank where it did not answer
