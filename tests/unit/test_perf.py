"""The load harness: exact-enough percentiles, open-loop timing without coordinated omission, bounded
memory, key distributions, and a real run against the embedded AWS."""

import random
import threading
import time
import tracemalloc
from collections import Counter

import pytest
from globaltables.perf import (
    IN_FLIGHT_GRACE_S,
    KeyChooser,
    LoadSpec,
    Recorder,
    _summarise,
    prefill,
    run_load,
    run_region,
    save_results,
    summary_rows,
)
from pydantic import ValidationError

from tests.unit.local.helpers import provisioned_global_table


def test_percentiles_match_a_known_distribution():
    rng = random.Random(1)
    samples = [rng.expovariate(1 / 0.010) for _ in range(200_000)]  # mean 10 ms
    recorder = Recorder(seconds=2)
    for value in samples:
        recorder.record("read", value, 0)
    stats = _summarise("r", LoadSpec(), [recorder], 1.0).stats("read")
    ordered = sorted(samples)
    for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p99.9", 0.999)):
        exact_ms = ordered[int(fraction * len(ordered))] * 1000
        assert stats.percentiles_ms[name] == pytest.approx(exact_ms, rel=0.01), name
    assert stats.count == 200_000 and stats.mean_ms == pytest.approx(10, rel=0.02)


def test_histograms_of_several_workers_are_merged():
    first, second = Recorder(1), Recorder(1)
    for _ in range(100):
        first.record("write", 0.001, 0)
        second.record("write", 0.003, 0)
    stats = _summarise("r", LoadSpec(), [first, second], 1.0).stats("write")
    assert stats.count == 200 and stats.percentiles_ms["p50"] == pytest.approx(1, rel=0.01)
    assert stats.percentiles_ms["p99"] == pytest.approx(3, rel=0.01)


def test_memory_stays_flat_in_the_number_of_operations():
    recorder = Recorder(seconds=10)
    tracemalloc.start()
    for i in range(10_000):
        recorder.record("read", (i % 5000) / 1e5, i % 10)
    after_10k, _ = tracemalloc.get_traced_memory()
    for i in range(200_000):
        recorder.record("read", (i % 5000) / 1e5, i % 10)
    after_200k, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # 20 times the operations, no more memory (benchmarks/harness.py measures a million, without tracemalloc).
    assert after_200k - after_10k < 64 * 1024


def test_zipfian_keys_favour_low_ranks_and_uniform_keys_do_not():
    zipf = KeyChooser(LoadSpec(key_distribution="zipfian", key_space=1000), random.Random(3))
    uniform = KeyChooser(LoadSpec(key_space=1000), random.Random(3))
    zipf_counts = Counter(zipf() for _ in range(50_000))
    uniform_counts = Counter(uniform() for _ in range(50_000))
    assert zipf_counts[0] > 20 * zipf_counts[500]
    assert max(uniform_counts.values()) < 3 * 50
    assert all(0 <= k < 1000 for k in zipf_counts)


class StallingClient:
    """Answers in 1 ms, except once, when it stalls for ``stall_s`` (as a server GC pause would)."""

    def __init__(self, stall_s):
        self.stall_s, self.calls, self.lock = stall_s, 0, threading.Lock()

    def _answer(self):
        with self.lock:
            self.calls += 1
            stall = self.calls == 50
        time.sleep(self.stall_s if stall else 0.001)
        return {}

    def get_item(self, **_):
        return self._answer()

    def put_item(self, **_):
        return self._answer()


def test_open_loop_keeps_the_rate_and_counts_the_stall_as_latency():
    spec = LoadSpec(mode="open", workers=1, rate_per_s=200, duration_s=2, warmup_s=0, read_ratio=1.0)
    result = run_region(StallingClient(stall_s=0.5), "r", "t", spec)
    reads = result.stats("read")
    # One worker, one stall of 0.5 s at 200/s: about 100 operations were due during the stall, and each
    # waited for it. A closed loop would have reported one slow call and 99 calls never made.
    assert reads.count == pytest.approx(400, rel=0.05)
    assert reads.percentiles_ms["p95"] > 100
    assert reads.max_ms >= 450


def test_closed_loop_reports_only_the_stalled_call():
    spec = LoadSpec(mode="closed", workers=1, duration_s=1.5, warmup_s=0, read_ratio=1.0)
    reads = run_region(StallingClient(stall_s=0.5), "r", "t", spec).stats("read")
    assert reads.max_ms >= 450 and reads.percentiles_ms["p95"] < 20


def test_operation_limit_and_warmup(clients):
    spec = LoadSpec(workers=2, duration_s=None, operations=50, warmup_s=0, key_space=10)
    ddb = clients.client("dynamodb", "us-east-1")
    from tests.unit.local.helpers import create_table

    name = create_table(ddb)
    result = run_region(ddb, "us-east-1", name, spec)
    assert result.stats("read").count + result.stats("write").count == 50


def test_spec_needs_a_limit():
    with pytest.raises(ValueError, match="must stop by itself"):
        LoadSpec(duration_s=None, operations=None)


def test_load_in_every_region_against_the_embedded_aws(clients, tmp_path):
    from tests.unit.local.helpers import add_replica, create_table

    ddb = clients.client("dynamodb", "us-east-1")
    name = create_table(ddb)
    add_replica(ddb, name, "eu-west-1")
    spec = LoadSpec(workers=2, duration_s=1, warmup_s=0.2, key_space=20, read_ratio=0.5)
    assert prefill(clients, "us-east-1", name, spec) == 20
    results = run_load(clients, ["us-east-1", "eu-west-1"], name, spec)
    assert [r.region for r in results] == ["us-east-1", "eu-west-1"]
    for result in results:
        assert result.stats("read").count > 0 and result.stats("write").count > 0
        assert result.stats("read").errors == 0
        assert result.cdf["read"][-1][0] == 100.0
    json_path, csv_path = save_results(results, tmp_path)
    assert json_path.exists() and csv_path.read_text().startswith("table,region,operation,count")


@pytest.mark.parametrize(
    "values",
    [
        {"rate_per_s": float("inf")},
        {"rate_per_s": float("nan")},
        {"rate_per_s": 1e6},
        {"duration_s": float("inf")},
        {"duration_s": 1e9},
        {"warmup_s": float("nan")},
        {"warmup_s": 1e6},
        {"zipf_s": float("inf")},
        {"read_ratio": float("nan")},
        {"key_space": 10**9},
        {"operations": 10**12},
    ],
)
def test_spec_refuses_non_finite_and_absurd_values(values):
    with pytest.raises(ValidationError) as caught:
        LoadSpec(**values)
    assert {error["loc"][0] for error in caught.value.errors()} == set(values)


def test_open_loop_beyond_the_embedded_aws_ends_on_time_and_reports_what_it_did_not_send(clients):
    from tests.unit.local.helpers import create_table

    ddb = clients.client("dynamodb", "us-east-1")
    name = create_table(ddb)
    spec = LoadSpec(mode="open", workers=4, rate_per_s=1e5, duration_s=0.5, warmup_s=0.2, key_space=10)
    began = time.perf_counter()
    result = run_region(ddb, "us-east-1", name, spec)
    took = time.perf_counter() - began
    assert took < spec.warmup_s + spec.duration_s + 5
    sent = result.stats("read").count + result.stats("write").count + result.stats("read").errors
    sent += result.stats("write").errors
    # 50,000 operations were due after warm-up; the embedded AWS answers a few hundred a second.
    assert result.not_sent > 0 and sent + result.not_sent == 50_000
    (row,) = [r for r in summary_rows([result]) if r["operation"] == "not sent"]
    assert row["count"] == result.not_sent and row["region"] == "us-east-1"


def test_a_reachable_rate_reports_nothing_unsent():
    spec = LoadSpec(mode="open", workers=2, rate_per_s=20, duration_s=1, warmup_s=0.2, read_ratio=1.0)
    result = run_region(StallingClient(stall_s=0.001), "r", "t", spec)
    assert result.not_sent == 0 and result.stats("read").count == 20
    assert [r["operation"] for r in summary_rows([result])] == ["read", "write"]


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_a_call_stuck_past_the_end_does_not_hold_the_run_and_counts_as_an_error(mode):
    spec = LoadSpec(mode=mode, workers=1, rate_per_s=100, duration_s=0.5, warmup_s=0, read_ratio=1.0)
    client = StallingClient(stall_s=30)
    client.calls = 48  # the second call stalls
    began = time.perf_counter()
    reads = run_region(client, "r", "t", spec).stats("read")
    assert time.perf_counter() - began < spec.duration_s + IN_FLIGHT_GRACE_S + 1
    assert reads.errors == 1 and reads.count == 1


def test_closed_loop_limited_by_operations_is_bounded_by_the_wall_clock(monkeypatch):
    import globaltables.perf as perf

    monkeypatch.setattr(perf, "MAX_DURATION_S", 0.3)
    spec = LoadSpec(workers=1, duration_s=None, operations=10_000, warmup_s=0, read_ratio=1.0)
    began = time.perf_counter()
    result = run_region(StallingClient(stall_s=0.001), "r", "t", spec)
    assert time.perf_counter() - began < 0.3 + IN_FLIGHT_GRACE_S
    assert 0 < result.not_sent < 10_000 and result.stats("read").count + result.not_sent == 10_000


# ----- throttles: a provisioned table used beyond its capacity ------------------------------------


def test_throttles_are_counted_and_backed_off_not_errors(capacity_clients):
    regions = ["us-east-1", "eu-west-1"]
    name = provisioned_global_table(capacity_clients, regions, units=2)
    spec = LoadSpec(workers=4, duration_s=2, warmup_s=0, key_space=20, read_ratio=0.5)  # unpaced: far beyond 2 units
    results = run_load(capacity_clients, regions, name, spec)
    for result in results:
        for operation in ("read", "write"):
            assert result.stats(operation).errors == 0, (result.region, operation)
        assert result.stats("read").throttles + result.stats("write").throttles > 0, result.region
        assert result.stats("read").count + result.stats("write").count > 0, result.region
    rows = summary_rows(results)
    assert all("throttles" in row for row in rows)


def test_a_throttled_call_is_sent_again_after_a_growing_jittered_pause(monkeypatch):
    import botocore.exceptions
    from globaltables import perf

    answers = ["ProvisionedThroughputExceededException"] * 3 + [None]
    pauses = []
    monkeypatch.setattr(perf.time, "sleep", pauses.append)

    def call():
        code = answers.pop(0)
        if code:
            raise botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "m"}}, "GetItem")

    assert perf._send(call, deadline=time.perf_counter() + 60) == perf.Sent("done", throttles=3)
    assert len(pauses) == 3
    for attempt, pause in enumerate(pauses):
        assert 0 <= pause <= min(2.0, 0.05 * 2**attempt)


def test_an_error_other_than_a_throttle_is_not_retried():
    from globaltables import perf

    def call():
        raise RuntimeError("broken")

    assert perf._send(call, deadline=time.perf_counter() + 60) == perf.Sent("failed")


def test_backoff_is_capped():
    from globaltables.throttling import Backoff

    backoff = Backoff(first_s=0.05, cap_s=0.3, rng=random.Random(3))
    pauses = [backoff.next_pause() for _ in range(12)]
    assert all(0 <= pause <= 0.3 for pause in pauses) and max(pauses[6:]) > 0.05


def test_a_closed_loop_is_paced_to_the_rate_cap():
    class Instant:
        def get_item(self, **_):
            return {}

        put_item = get_item

    spec = LoadSpec(workers=8, duration_s=1.0, warmup_s=0, rate_cap_per_s=20, read_ratio=0.5)
    result = run_region(Instant(), "r", "t", spec)
    sent = result.stats("read").count + result.stats("write").count
    assert 0 < sent <= 21  # 20 a second for 1 s (the first at once); unpaced, thousands


def test_the_rate_cap_comes_from_the_capacity_the_mix_and_the_replicas():
    from globaltables.params import validate_params
    from globaltables.perf import capacity_rate_cap, spec_from_params

    # 10 RCU at 0.5 a read (80 % reads): 25 ops/s; 10 WCU taking 3 regions' writes (20 %): 16.67 ops/s.
    assert capacity_rate_cap(10, 10, 0.8, 3, 100) == pytest.approx(0.8 * 10 / 0.6, abs=0.01)
    # Reads only: 10 RCU at 0.5 a read is 20 ops/s.
    assert capacity_rate_cap(10, 10, 1.0, 3, 100) == pytest.approx(0.8 * 20)
    provisioned = spec_from_params(validate_params({"billing_mode": "PROVISIONED"}))
    assert provisioned.rate_cap_per_s == pytest.approx(13.33, abs=0.01)
    assert spec_from_params(validate_params({"billing_mode": "PAY_PER_REQUEST"})).rate_cap_per_s is None


# ----- the table's mode: strong reads, eventual reads beside, write conflicts ------------------------


class RecordingClient:
    """Answers at once and keeps every call's arguments."""

    def __init__(self):
        self.calls, self.lock = [], threading.Lock()

    def get_item(self, **arguments):
        with self.lock:
            self.calls.append(("get_item", arguments))
        return {}

    def put_item(self, **arguments):
        with self.lock:
            self.calls.append(("put_item", arguments))
        return {}


def test_an_eventual_load_sends_the_calls_it_always_sent():
    client = RecordingClient()
    spec = LoadSpec(workers=2, duration_s=None, operations=200, warmup_s=0, read_ratio=0.5)
    result = run_region(client, "r", "t", spec)
    assert [stats.operation for stats in result.operations] == ["read", "write"]
    assert all("ConsistentRead" not in arguments for _, arguments in client.calls)
    rows = summary_rows([result])
    assert {row["table"] for row in rows} == {"eventual (MREC)"} and all("conflicts" not in row for row in rows)


def test_a_strong_load_reads_strongly_consistent_with_an_eventual_series_beside():
    from globaltables.perf import EVENTUAL_READ, EVENTUAL_READ_SHARE

    client = RecordingClient()
    spec = LoadSpec(workers=2, duration_s=None, operations=2000, warmup_s=0, read_ratio=1.0, consistency="strong")
    result = run_region(client, "r", "t", spec)
    strong, eventual = result.stats("read").count, result.stats(EVENTUAL_READ).count
    assert strong + eventual == 2000
    assert eventual == pytest.approx(2000 * EVENTUAL_READ_SHARE, rel=0.2)
    consistent = sum(arguments.get("ConsistentRead") is True for _, arguments in client.calls)
    assert consistent == strong
    rows = summary_rows([result])
    assert [row["operation"] for row in rows] == ["read", "write", EVENTUAL_READ]
    assert {row["table"] for row in rows} == {"strong (MRSC)"} and all("conflicts" in row for row in rows)


def test_a_write_conflict_is_counted_and_sent_again_like_a_throttle(monkeypatch):
    import botocore.exceptions
    from globaltables import perf

    answers = ["ReplicatedWriteConflictException", "ProvisionedThroughputExceededException"]
    answers += ["ReplicatedWriteConflictException", None]
    pauses = []
    monkeypatch.setattr(perf.time, "sleep", pauses.append)

    def call():
        code = answers.pop(0)
        if code:
            raise botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "m"}}, "PutItem")

    assert perf._send(call, deadline=time.perf_counter() + 60) == perf.Sent("done", throttles=1, conflicts=2)
    assert len(pauses) == 3 and all(0 <= pause <= min(2.0, 0.05 * 2**n) for n, pause in enumerate(pauses))


def test_conflicts_of_a_strong_load_are_reported_per_operation():
    import botocore.exceptions

    class Conflicting(RecordingClient):
        def put_item(self, **arguments):
            with self.lock:
                self.calls.append(("put_item", arguments))
                refuse = len(self.calls) % 2 == 1
            if refuse:
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": "ReplicatedWriteConflictException", "Message": "m"}}, "PutItem"
                )
            return {}

    spec = LoadSpec(workers=1, duration_s=None, operations=30, warmup_s=0, read_ratio=0.0, consistency="strong")
    result = run_region(Conflicting(), "r", "t", spec)
    writes = result.stats("write")
    assert writes.count == 30 and writes.errors == 0 and writes.conflicts == 30
    (row,) = [row for row in summary_rows([result]) if row["operation"] == "write"]
    assert row["conflicts"] == 30


def test_the_spec_follows_the_run_mode_and_strong_reads_cost_a_whole_unit():
    from globaltables.params import validate_params
    from globaltables.perf import EVENTUAL_READ_SHARE, capacity_rate_cap, spec_from_params

    assert spec_from_params(validate_params({})).consistency == "eventual"
    strong = {"consistency": "strong", "regions": ["us-east-1", "us-east-2"], "witness_region": "us-west-2"}
    assert spec_from_params(validate_params(strong)).consistency == "strong"
    # Reads only: 10 RCU at 1 unit a strong read is 10 ops/s, at 0.5 an eventual one 20 ops/s.
    assert capacity_rate_cap(10, 10, 1.0, 2, 100, strong_read_share=1.0) == pytest.approx(0.8 * 10)
    provisioned = spec_from_params(validate_params({**strong, "billing_mode": "PROVISIONED"}))
    share = 1 - EVENTUAL_READ_SHARE
    expected = capacity_rate_cap(10, 10, 0.8, 2, 100, strong_read_share=share)
    assert provisioned.rate_cap_per_s == pytest.approx(expected)


def test_the_distribution_follows_hdrhistograms_percentile_iteration_to_the_maximum():
    from globaltables.loadgen import new_histogram
    from globaltables.perf import distribution

    histogram = new_histogram()
    for value in range(1, 100_001):  # 1 µs to 100 ms, evenly
        histogram.record_value(value)
    points = distribution(histogram)
    percentiles = [p for p, _ in points]
    assert percentiles[0] == 0.0 and percentiles[-1] == 100.0 and percentiles == sorted(percentiles)
    assert points[-1][1] == pytest.approx(100.0, rel=0.001)  # the maximum, in ms
    # Steps halve the distance to 100 %: as many between p99 and p99.99 as between p0 and p90.
    assert sum(99 <= p < 99.99 for p in percentiles) >= sum(p < 90 for p in percentiles) >= 10
    assert distribution(new_histogram()) == []
