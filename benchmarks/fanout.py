"""The load fan-out against one local harness, at the same total concurrency, on the embedded AWS; and
the error of merged histograms against the raw samples.

- ``fanout_ratio``: operations per second over every region through ``invocations`` Lambda invocations
  per region (each ``workers`` workers at ``rate`` operations/s, open loop), divided by the same through
  one local harness per region with ``invocations`` times the workers and the rate. Goal: at least 0.9.
- ``merge_p99_error``: latency-like samples (log-normal) split over ``invocations`` harnesses'
  histograms, each encoded as the function answers it (the zip's pure-Python codec), decoded and merged;
  the merged p99 against the exact p99 of all the raw samples, relative. Goal: at most 0.01.

Last line: {"fanout_ops_per_s": f, "local_ops_per_s": l, "fanout_ratio": f/l, "merge_p99_error": e, ...}
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import tempfile
import time
from pathlib import Path

from globaltables import fanout, loadgen
from globaltables.clients import AwsClients
from globaltables.kms import ensure_region_key
from globaltables.local import EmbeddedAWS
from globaltables.names import derive_names, new_run_id
from globaltables.params import validate_params
from globaltables.perf import LoadSpec, prefill, run_load
from globaltables.state import RunState
from globaltables.tables import ensure_replica, ensure_table

REGIONS = ["us-east-1", "eu-west-1"]


def ops_per_s(results) -> float:
    return sum(s.throughput_per_s for r in results for s in r.operations)


def merge_p99_error(invocations: int, samples: int, seed: int = 11) -> float:
    import hdrh.codec as codec

    spec = importlib.util.spec_from_file_location("pure_pyhdrh", fanout.PURE_PYHDRH)
    pure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pure)
    rng = random.Random(seed)
    raw = [[rng.lognormvariate(8.0, 0.9) for _ in range(samples)] for _ in range(invocations)]
    saved = codec.encode, codec.add_array
    codec.encode, codec.add_array = pure.encode, pure.add_array  # encoded as the function encodes
    try:
        encoded = []
        for part in raw:
            recorder = loadgen.Recorder(seconds=1)
            for value in part:
                recorder.record("read", value / 1e6, 0)
            encoded.append(loadgen.Tally.of([recorder], loadgen.OPERATIONS, 1.0).to_json())
    finally:
        codec.encode, codec.add_array = saved
    merged = fanout.merge([loadgen.Tally.from_json(e) for e in encoded]).histograms["read"]
    everything = sorted(int(v) for part in raw for v in part)
    exact = everything[int(len(everything) * 0.99 + 0.5) - 1]
    return abs(merged.get_value_at_percentile(99) - exact) / exact


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invocations", type=int, default=3, help="per region")
    parser.add_argument("--workers", type=int, default=4, help="per invocation")
    parser.add_argument("--rate", type=float, default=40.0, help="operations/s per invocation")
    parser.add_argument("--duration", type=float, default=4.0)
    arguments = parser.parse_args()
    n = arguments.invocations
    per_invocation = LoadSpec(
        mode="open", workers=arguments.workers, rate_per_s=arguments.rate, duration_s=arguments.duration, warmup_s=0.5
    )
    single = per_invocation.model_copy(update={"workers": arguments.workers * n, "rate_per_s": arguments.rate * n})
    with EmbeddedAWS(replication_delay="0", replica_transition_s=0.1) as server, tempfile.TemporaryDirectory() as tmp:
        clients = AwsClients("local", server.endpoint)
        params = validate_params({"endpoint_url": server.endpoint, "regions": REGIONS, "load_engine": "lambda"})
        run = RunState.create(params, derive_names(params.table_name_prefix), new_run_id(), Path(tmp), "123456789012")
        keys = {region: ensure_region_key(clients, run, region).arn for region in REGIONS}
        ensure_table(clients, run, keys[REGIONS[0]])
        ensure_replica(clients, run, REGIONS[1], keys[REGIONS[1]])
        prefill(clients, REGIONS[0], run.names.table_name, per_invocation)
        started = time.perf_counter()
        fanout.ensure_harness(clients, run, per_invocation)
        deploy_s = time.perf_counter() - started

        local = run_load(clients, REGIONS, run.names.table_name, single)
        started = time.perf_counter()
        fanned = fanout.run_fanout(clients, run, per_invocation, n)
        fanout_wall_s = time.perf_counter() - started
    local_ops, fanout_ops = ops_per_s(local), ops_per_s(fanned.results)
    figures = {
        "regions": len(REGIONS),
        "invocations_per_region": n,
        "target_ops_per_s": arguments.rate * n * len(REGIONS),
        "local_ops_per_s": round(local_ops, 1),
        "fanout_ops_per_s": round(fanout_ops, 1),
        "fanout_ratio": round(fanout_ops / local_ops, 3) if local_ops else 0.0,
        "local_p99_ms": max(r.stats("read").percentiles_ms["p99"] for r in local),
        "fanout_p99_ms": max(r.stats("read").percentiles_ms["p99"] for r in fanned.results),
        "fanout_not_sent": sum(r.not_sent for r in fanned.results),
        "fanout_wall_s": round(fanout_wall_s, 2),
        "invocation_s": [i.seconds for i in fanned.invocations],
        "deploy_s": round(deploy_s, 2),
        "merge_p99_error": round(merge_p99_error(n * len(REGIONS), 20_000), 5),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
