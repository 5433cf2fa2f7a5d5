"""02_table_replicas with ``consistency: strong``: the table, then ONE UpdateTable making it strong (both
replicas, or the replica and the witness), each replica with its region's key; status rows and chart
show the mode and the witness; rerunning changes nothing; a table of the other mode is refused."""

import contextlib
import functools

import botocore.exceptions
import pytest
from globaltables import charts
from globaltables.clients import AwsClients
from globaltables.kinds import ResourceKind
from globaltables.kms import ensure_region_key
from globaltables.tables import (
    TableModeMismatch,
    ensure_global_table,
    ensure_protection,
    ensure_replicas,
    global_table_status,
    table_definition,
)

from tests.unit.local.helpers import create_table, unique_name

US_PAIR = ["us-east-1", "us-east-2"]
WITH_WITNESS = {"consistency": "strong", "regions": US_PAIR, "witness_region": "us-west-2"}
THREE_REPLICAS = {"consistency": "strong", "regions": ["us-east-1", "us-east-2", "us-west-2"]}


def embedded_aws_makes_strong_tables(clients) -> bool:
    """Whether the embedded AWS answers UpdateTable with MultiRegionConsistency=STRONG on an empty table
    (the embedded AWS refused it as "not emulated" before MRSC was emulated). The probe table is removed."""
    from globaltables.cleanup import _delete_table

    ddb = clients.client("dynamodb", "us-east-1")
    name = create_table(ddb, unique_name("mrsc-probe"))
    try:
        ddb.update_table(
            TableName=name,
            ReplicaUpdates=[{"Create": {"RegionName": "us-east-2"}}],
            GlobalTableWitnessUpdates=[{"Create": {"RegionName": "us-west-2"}}],
            MultiRegionConsistency="STRONG",
        )
    except botocore.exceptions.ClientError as error:
        if "not emulated" in error.response["Error"].get("Message", ""):
            _delete_table(clients, "us-east-1", name, 30)
            return False
        raise
    _delete_table(clients, "us-east-1", name, 30)
    return True


@functools.cache
def _answers_strong(endpoint: str) -> bool:
    return embedded_aws_makes_strong_tables(AwsClients("local", endpoint))


def require_strong_tables(clients):
    """``clients``, or the test is skipped while the embedded AWS does not make strong tables."""
    if not _answers_strong(clients.endpoint_url):
        pytest.skip("the embedded AWS does not emulate MultiRegionConsistency=STRONG yet")
    return clients


class UpdateTableCalls:
    """The UpdateTable requests of a client, as sent (botocore's event hook on its parameters)."""

    def __init__(self, client):
        self.client, self.requests = client, []
        client.meta.events.register("provide-client-params.dynamodb.UpdateTable", self._seen)

    def _seen(self, params, **_):
        self.requests.append(dict(params))

    def replica_updates(self):
        return [r for r in self.requests if "ReplicaUpdates" in r or "GlobalTableWitnessUpdates" in r]

    def close(self):
        self.client.meta.events.unregister("provide-client-params.dynamodb.UpdateTable", self._seen)


@contextlib.contextmanager
def watching_update_tables(clients):
    """``watch(region)`` -> the UpdateTable calls made through that region's client from then on."""
    watched = []

    def watch(region):
        calls = UpdateTableCalls(clients.client("dynamodb", region))
        watched.append(calls)
        return calls

    try:
        yield watch
    finally:
        for calls in watched:
            calls.close()


def keys_of(clients, run):
    return {region: ensure_region_key(clients, run, region).arn for region in run.params.regions}


def build_strong(clients, run):
    keys = keys_of(clients, run)
    table = ensure_global_table(clients, run, keys)
    for region in run.params.regions:
        ensure_protection(clients, run, region)
    return keys, table


# ----- without the embedded AWS -------------------------------------------------------------------------


def test_a_strong_table_is_created_without_a_stream(new_run):
    run = new_run(**WITH_WITNESS)
    definition = table_definition(run.names.table_name, run.params, "alias/k", run.run_id)
    assert "StreamSpecification" not in definition
    eventual = new_run(regions=US_PAIR)
    assert table_definition(eventual.names.table_name, eventual.params, "alias/k", eventual.run_id)[
        "StreamSpecification"
    ] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_replication_map_shows_the_witness_and_the_mode():
    figure = charts.replication_map(US_PAIR, {"us-west-2": "WITNESS ACTIVE"}, witness="us-west-2", mode="strong (MRSC)")
    texts = [text for trace in figure.data for text in (trace.text if isinstance(trace.text, tuple) else [trace.text])]
    assert any("us-west-2 (witness)" in str(text) and "WITNESS ACTIVE" in str(text) for text in texts)
    assert sum(1 for trace in figure.data if trace.line and trace.line.dash == "dash") == 2  # a link per replica
    assert figure.layout.title.text == "Replicas and replication links: strong (MRSC)"
    assert charts.replication_map(US_PAIR).layout.title.text == "Replicas and replication links"


# ----- through the embedded AWS -------------------------------------------------------------------------


def test_a_strong_table_with_a_witness_is_made_in_one_update_table(strong_tables, new_run, update_calls):
    clients = strong_tables
    run = new_run(**WITH_WITNESS)
    calls = update_calls("us-east-1")
    keys, table = build_strong(clients, run)
    (request,) = calls.replica_updates()
    assert request["MultiRegionConsistency"] == "STRONG"
    assert request["ReplicaUpdates"] == [{"Create": {"RegionName": "us-east-2", "KMSMasterKeyId": keys["us-east-2"]}}]
    assert request["GlobalTableWitnessUpdates"] == [{"Create": {"RegionName": "us-west-2"}}]
    assert set(request) == {"TableName", "ReplicaUpdates", "GlobalTableWitnessUpdates", "MultiRegionConsistency"}
    assert table["GlobalTableWitnesses"] == [{"RegionName": "us-west-2", "WitnessStatus": "ACTIVE"}]
    # The manifest: the table, its replica with its key, and the witness.
    assert [(r.kind, r.region) for r in run.resources() if r.kind.startswith("dynamodb:")] == [
        ("dynamodb:table", "us-east-1"),
        (ResourceKind.REPLICA, "us-east-2"),
        (ResourceKind.WITNESS, "us-west-2"),
    ]
    assert run.resources(ResourceKind.REPLICA)[0].details["kms_key"] == keys["us-east-2"]
    rows = {row.region: row for row in global_table_status(clients, run.params.regions, run.names.table_name)}
    assert list(rows) == ["us-east-1", "us-east-2", "us-west-2"]
    assert {row.consistency for row in rows.values()} == {"strong"}
    assert rows["us-west-2"].table_status == "WITNESS ACTIVE" and rows["us-west-2"].is_witness
    for region in US_PAIR:
        assert rows[region].table_status == "ACTIVE" and rows[region].kms_key == keys[region]
        assert rows[region].pitr == "ENABLED" and rows[region].deletion_protection
        described = clients.client("dynamodb", region).describe_table(TableName=run.names.table_name)["Table"]
        assert described["MultiRegionConsistency"] == "STRONG"
        assert "StreamSpecification" not in described or not described["StreamSpecification"]["StreamEnabled"]


def test_three_strong_replicas_are_made_in_one_update_table(strong_tables, new_run, update_calls):
    clients = strong_tables
    run = new_run(**THREE_REPLICAS)
    calls = update_calls("us-east-1")
    keys, _ = build_strong(clients, run)
    (request,) = calls.replica_updates()
    assert [u["Create"]["RegionName"] for u in request["ReplicaUpdates"]] == ["us-east-2", "us-west-2"]
    assert "GlobalTableWitnessUpdates" not in request
    rows = global_table_status(clients, run.params.regions, run.names.table_name)
    assert [row.region for row in rows] == THREE_REPLICAS["regions"]
    assert all(row.consistency == "strong" and row.kms_key == keys[row.region] for row in rows)
    assert not run.resources(ResourceKind.WITNESS)


def test_building_a_strong_table_twice_changes_nothing(strong_tables, new_run, update_calls):
    clients = strong_tables
    run = new_run(**WITH_WITNESS)
    build_strong(clients, run)
    before = [r.model_dump(exclude={"created_at"}) for r in run.resources()]
    calls = update_calls("us-east-1")
    build_strong(clients, run)
    assert [r.model_dump(exclude={"created_at"}) for r in run.resources()] == before
    assert calls.requests == []


def test_an_eventual_table_is_not_made_strong_and_the_error_says_what_it_is(strong_tables, new_run):
    clients = strong_tables
    run = new_run(regions=US_PAIR)
    keys = keys_of(clients, run)
    ensure_global_table(clients, run, keys)
    run.update_params(run.params.with_overrides(consistency="strong", witness_region="us-west-2"))
    with pytest.raises(TableModeMismatch) as caught:
        ensure_replicas(clients, run, keys)
    message = str(caught.value)
    assert "is eventual (MREC) with replicas in us-east-2" in message
    assert "asks for strong (MRSC) with replicas in us-east-2 and a witness in us-west-2" in message
    assert "10_cleanup" in message


def test_a_strong_table_is_not_taken_for_an_eventual_one(strong_tables, new_run):
    clients = strong_tables
    run = new_run(**WITH_WITNESS)
    keys, _ = build_strong(clients, run)
    run.update_params(run.params.with_overrides(consistency="eventual", witness_region=None))
    with pytest.raises(TableModeMismatch, match="is strong \\(MRSC\\) with replicas in us-east-2 and a witness"):
        ensure_replicas(clients, run, keys)
