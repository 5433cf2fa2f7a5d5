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
    for i in range(1_000_000):
        recorder.record("read", (i % 5000) / 1e5, i % 10)
    after_1m, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after_1m - after_10k < 64 * 1024  # 100 times the operations, no more memory


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
    assert json_path.exists() and csv_path.read_text().startswith("region,operation,count")


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
