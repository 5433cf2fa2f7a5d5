"""The load fan-out (07, ``load_engine: lambda``): histograms that travel and merge exactly, the harness's
zip that runs without the project's packages, the handler, the fan-out through the embedded AWS's real
Lambda execution, the engine's default by target, and cleanup of what the fan-out made."""

import importlib.util
import io
import random
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from globaltables import fanout, loadgen, throttling
from globaltables.cleanup import run_cleanup
from globaltables.local.functions.executor import EmbeddedLambda, _Slots
from globaltables.params import Params
from globaltables.perf import LoadSpec, run_region
from hdrh.histogram import HdrHistogram

from tests.unit.test_function_and_backup_steps import global_table

PROJECT = Path(__file__).resolve().parents[2]
TINY = LoadSpec(mode="open", workers=2, rate_per_s=25, read_ratio=0.5, key_space=20, duration_s=1.0, warmup_s=0.2)


def _pure_pyhdrh():
    spec = importlib.util.spec_from_file_location("pure_pyhdrh", fanout.PURE_PYHDRH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tally(samples_us: list[int], operation: str = "read") -> loadgen.Tally:
    recorder = loadgen.Recorder(seconds=2)
    for value in samples_us:
        recorder.record(operation, value / 1e6, 0)
    return loadgen.Tally.of([recorder], loadgen.OPERATIONS, measured_s=1.0)


def test_merged_histograms_give_the_percentiles_of_all_samples_within_hdr_precision():
    rng = random.Random(5)
    parts = [[int(rng.lognormvariate(8 + i % 3, 0.8)) + 1 for _ in range(3000)] for i in range(6)]
    travelled = [loadgen.Tally.from_json(_tally(part).to_json()) for part in parts]
    merged = fanout.merge(travelled)
    everything = sorted(value for part in parts for value in part)
    histogram = merged.histograms["read"]
    assert histogram.get_total_count() == len(everything)
    for percentile in (50, 90, 99, 99.9):
        raw = everything[max(0, int(len(everything) * percentile / 100 + 0.5) - 1)]
        assert abs(histogram.get_value_at_percentile(percentile) - raw) <= raw * 10**-loadgen.DIGITS * 2, percentile
    assert merged.harnesses == 6 and travelled[0].histograms["read"].get_total_count() == 3000  # inputs unchanged


def test_the_pure_codec_and_the_extension_read_each_other():
    import hdrh.codec as codec

    pure = _pure_pyhdrh()
    histogram = loadgen.new_histogram()
    for value in (1, 2, 2, 900, 12_345, 59_000_000):
        histogram.record_value(value)
    native = histogram.encode()
    saved = codec.encode, codec.decode, codec.add_array
    try:
        codec.encode, codec.decode, codec.add_array = pure.encode, pure.decode, pure.add_array
        by_pure = loadgen.new_histogram()
        by_pure.add(histogram)
        encoded_by_pure = by_pure.encode()
        decoded_by_pure = HdrHistogram.decode(native)
    finally:
        codec.encode, codec.decode, codec.add_array = saved
    decoded_by_native = HdrHistogram.decode(encoded_by_pure)
    for other in (decoded_by_pure, decoded_by_native):
        assert other.get_total_count() == 6
        assert [other.get_value_at_percentile(p) for p in (10, 50, 90, 100)] == [
            histogram.get_value_at_percentile(p) for p in (10, 50, 90, 100)
        ]


def test_the_engine_backs_off_the_same_codes_as_the_library():
    assert loadgen.THROTTLE_CODES is throttling.THROTTLE_CODES
    assert loadgen.WRITE_CONFLICT_CODES is throttling.WRITE_CONFLICT_CODES
    assert loadgen.Backoff is throttling.Backoff


# boto3 and what it brings (botocore uses certifi when present, else its own bundle); _distutils_hack is
# the venv's start-up hook (a .pth file), loaded before anything else.
LAMBDA_RUNTIME_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "urllib3",
    "dateutil",
    "six",
    "certifi",
    "_distutils_hack",
)


def test_the_zip_needs_nothing_but_python_and_boto3(tmp_path):
    """What Lambda's python3.13 runtime has: the standard library and boto3 (with its dependencies)."""
    with zipfile.ZipFile(io.BytesIO(fanout.package())) as archive:
        archive.extractall(tmp_path)
        names = set(archive.namelist())
    assert {"load_harness.py", "globaltables/loadgen.py", "pyhdrh.py", "hdrh/histogram.py", "hdrh/codec.py"} <= names
    assert fanout.package() == fanout.package(), "the same files make the same zip"
    probe = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import load_harness, sysconfig\n"
        "stdlib = sysconfig.get_paths()['stdlib']\n"
        "for name, module in sorted(sys.modules.items()):\n"
        "    where = getattr(module, '__file__', None) or ''\n"
        f"    top = name.split('.')[0]\n"
        f"    if where and not where.startswith(({str(tmp_path)!r}, stdlib)) and top not in {LAMBDA_RUNTIME_PACKAGES!r}:\n"
        "        print(name, where)\n"
        "print('pyhdrh from', sys.modules['pyhdrh'].__file__)\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    *outside, last = completed.stdout.strip().splitlines()
    assert not outside, outside
    assert last == f"pyhdrh from {tmp_path / 'pyhdrh.py'}"


def _load_handler():
    spec = importlib.util.spec_from_file_location("load_harness_under_test", fanout.HANDLER_SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(clients, region: str, name: str) -> None:
    clients.client("dynamodb", region).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def test_the_handler_runs_the_harness_against_its_own_region(clients, embedded_aws, monkeypatch):
    _table(clients, "eu-west-1", "fanout-handler")
    for key, value in {
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": embedded_aws.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "TABLE_NAME": "fanout-handler",
    }.items():
        monkeypatch.setenv(key, value)
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 60_000)
    answer = _load_handler().handler({"plan": TINY.plan().to_json(), "invocation": 3}, context)
    assert (answer["region"], answer["invocation"]) == ("eu-west-1", 3)
    tally = loadgen.Tally.from_json(answer["tally"])
    counts = {op: h.get_total_count() for op, h in tally.histograms.items()}
    assert sum(counts.values()) > 0 and set(counts) == {"read", "write"}
    assert sum(tally.errors.values()) == 0
    too_short = SimpleNamespace(get_remaining_time_in_millis=lambda: 1_000)
    with pytest.raises(ValueError, match="raise its timeout"):
        _load_handler().handler({"plan": TINY.plan().to_json()}, too_short)


def test_a_tally_summarises_as_the_local_harness_does():
    result = run_region(_StubClient(), "r", "t", TINY)
    assert result.engine == "local" and result.invocations == 1
    assert result.stats("read").count + result.stats("write").count > 0


class _StubClient:
    def get_item(self, **_):
        return {}

    def put_item(self, **_):
        return {}


def test_the_engine_is_lambda_on_aws_and_local_on_the_embedded_aws_unless_chosen():
    assert fanout.load_engine(Params()) == "local"
    assert fanout.load_engine(Params(target="aws", confirm_costs=True)) == "lambda"
    assert fanout.load_engine(Params(load_engine="lambda")) == "lambda"
    assert fanout.load_engine(Params(target="aws", confirm_costs=True, load_engine="local")) == "local"


def test_a_load_longer_than_lambda_allows_is_refused_before_any_call():
    with pytest.raises(fanout.LoadTooLongForLambda, match="at most 900 s"):
        fanout.timeout_s(TINY.model_copy(update={"duration_s": 2000.0}))


def test_the_executor_runs_at_most_its_limit_of_handlers_at_once(monkeypatch):
    monkeypatch.setattr(EmbeddedLambda, "concurrency", 2)
    slots, inside, release = _Slots(), threading.Semaphore(0), threading.Event()

    def handler() -> None:
        with slots:
            inside.release()
            release.wait(10)

    threads = [threading.Thread(target=handler) for _ in range(5)]
    for thread in threads:
        thread.start()
    assert inside.acquire(timeout=10) and inside.acquire(timeout=10)
    assert not inside.acquire(timeout=0.2) and slots.running == 2  # the third waits for a slot
    release.set()
    for thread in threads:
        thread.join(10)
    assert slots.most == 2 and slots.running == 0


def test_fan_out_through_the_embedded_lambda_merges_every_invocation_and_cleanup_removes_it(clients, new_run):
    run = new_run(regions=["us-east-1", "eu-west-1"], load_engine="lambda")
    global_table(clients, run)
    functions = fanout.ensure_harness(clients, run, TINY)
    assert {f["Runtime"] for f in functions.values()} == {"python3.13"}
    made = {(r.kind, r.name, r.region) for r in run.resources() if r.notebook == fanout.NOTEBOOK}
    assert made == {
        *(("iam:role", fanout.role_name(run, region), "global") for region in run.params.regions),
        *(("lambda:function", fanout.function_name(run), region) for region in run.params.regions),
        *(("logs:log-group", f"/aws/lambda/{fanout.function_name(run)}", region) for region in run.params.regions),
    }
    fanout.ensure_harness(clients, run, TINY)  # idempotent
    assert {(r.kind, r.name, r.region) for r in run.resources() if r.notebook == fanout.NOTEBOOK} == made

    load = fanout.run_fanout(clients, run, TINY, invocations_per_region=2)
    assert [r.region for r in load.results] == run.params.regions and len(load.invocations) == 4
    assert {i.hdr_codec for i in load.invocations} == {"pure Python"}  # the zip's codec, as on AWS
    for result in load.results:
        mine = [i.tally for i in load.invocations if i.region == result.region]
        for op in ("read", "write"):
            assert result.stats(op).count == sum(t.histograms[op].get_total_count() for t in mine) > 0
            assert result.stats(op).errors == 0
        assert (result.engine, result.invocations) == ("lambda", 2)
    for op in ("read", "write"):
        assert load.overall.stats(op).count == sum(r.stats(op).count for r in load.results)

    run_cleanup(clients, run)
    for region in run.params.regions:
        names = [f["FunctionName"] for f in clients.client("lambda", region).list_functions()["Functions"]]
        assert fanout.function_name(run) not in names
    roles = [r["RoleName"] for r in clients.client("iam", "us-east-1").list_roles()["Roles"]]
    assert not [name for name in roles if name.startswith(f"GlobalTableLoadRole-{run.names.suffix}")]
