"""AWS's published MRSC scenario (AWS CLI), run unchanged against the embedded AWS.

The script is AWS's "Create and manage DynamoDB global tables with Multi-Region Strong Consistency"
Bash example (AWS SDK Code Examples library, also in the developer guide's MRSC tutorial:
https://docs.aws.amazon.com/code-library/latest/ug/dynamodb_example_dynamodb_Scenario_MRSCGlobalTables_section.html),
its five snippets in order, character for character. It runs with the AWS CLI installed in the project's
venv (awscli 1.x), pointed at the embedded AWS through the environment only: ``AWS_ENDPOINT_URL``, dummy
credentials, no configuration files, and a ``sleep`` first on ``PATH`` that returns at once. The
script's ``sleep 30`` waits for AWS to delete the replica and the witness; the embedded AWS finishes
that within its replica transition time (0.1 s here), less than one AWS CLI call takes. ``aws dynamodb
wait table-exists`` polls every 20 s; CreateTable's CREATING lasts 0 s in the ``fast`` timing, so the
first poll finds the table ACTIVE and the waiter never sleeps.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.unit.local.helpers import error_of, table_names

# AWS's script, verbatim (raw string: its line continuations stay backslashes).
SCENARIO = r"""
# Step 1: Create a new table in us-east-2 (primary region for MRSC)
# Note: Table must be empty when enabling MRSC
aws dynamodb create-table \
    --table-name MusicTable \
    --attribute-definitions \
        AttributeName=Artist,AttributeType=S \
        AttributeName=SongTitle,AttributeType=S \
    --key-schema \
        AttributeName=Artist,KeyType=HASH \
        AttributeName=SongTitle,KeyType=RANGE \
    --billing-mode PAY_PER_REQUEST \
    --region us-east-2

# Wait for table to become active
aws dynamodb wait table-exists --table-name MusicTable --region us-east-2

# Step 2: Add replica and witness with Multi-Region Strong Consistency
# MRSC requires exactly three replicas in supported regions
aws dynamodb update-table \
    --table-name MusicTable \
    --replica-updates '[{"Create": {"RegionName": "us-east-1"}}]' \
    --global-table-witness-updates '[{"Create": {"RegionName": "us-west-2"}}]' \
    --multi-region-consistency STRONG \
    --region us-east-2

# Verify the global table configuration and MRSC setting
aws dynamodb describe-table \
    --table-name MusicTable \
    --region us-east-2 \
    --query 'Table.{TableName:TableName,TableStatus:TableStatus,MultiRegionConsistency:MultiRegionConsistency,Replicas:Replicas[*],GlobalTableWitnesses:GlobalTableWitnesses[*].{Region:RegionName,Status:ReplicaStatus}}'

# Write an item to the primary region
aws dynamodb put-item \
    --table-name MusicTable \
    --item '{"Artist": {"S":"The Beatles"},"SongTitle": {"S":"Hey Jude"},"Album": {"S":"The Beatles 1967-1970"},"Year": {"N":"1968"}}' \
    --region us-east-2

# Read the item from replica region to verify strong consistency (cannot read or write to witness)
# No wait time needed - MRSC provides immediate consistency
echo "Reading from us-east-1 (immediate consistency):"
aws dynamodb get-item \
    --table-name MusicTable \
    --key '{"Artist": {"S":"The Beatles"},"SongTitle": {"S":"Hey Jude"}}' \
    --consistent-read \
    --region us-east-1

# Perform a conditional update from a different region
# This demonstrates that conditions work consistently across all regions
aws dynamodb update-item \
    --table-name MusicTable \
    --key '{"Artist": {"S":"The Beatles"},"SongTitle": {"S":"Hey Jude"}}' \
    --update-expression "SET #rating = :rating" \
    --condition-expression "attribute_exists(Artist)" \
    --expression-attribute-names '{"#rating": "Rating"}' \
    --expression-attribute-values '{":rating": {"N":"5"}}' \
    --region us-east-1

# Remove replica tables (must be done before deleting the primary table)
aws dynamodb update-table \
    --table-name MusicTable \
    --replica-updates '[{"Delete": {"RegionName": "us-east-1"}}]' \
    --global-table-witness-updates '[{"Delete": {"RegionName": "us-west-2"}}]' \
    --region us-east-2

# Wait for replicas to be deleted
echo "Waiting for replicas to be deleted..."
sleep 30

# Delete the primary table
aws dynamodb delete-table \
    --table-name MusicTable \
    --region us-east-2
"""
WAITER_DELAY_S = 20  # botocore's TableExists waiter: DescribeTable every 20 s until ACTIVE
AWS_CLI = Path(sys.executable).with_name("aws")


def run_scenario(endpoint: str, folder: Path) -> tuple[subprocess.CompletedProcess, list[str], float]:
    """Run the script with ``bash -e`` (it stops at the first failing command); returns the process,
    the arguments each ``sleep`` was called with, and the seconds it took."""
    bin_folder = folder / "bin"
    bin_folder.mkdir()
    sleeps = folder / "sleeps.txt"
    fake_sleep = bin_folder / "sleep"
    fake_sleep.write_text(f'#!/bin/sh\necho "$*" >> {sleeps}\nexit 0\n')
    fake_sleep.chmod(0o755)
    script = folder / "mrsc.sh"
    script.write_text(SCENARIO)
    environment = {
        "PATH": os.pathsep.join([str(bin_folder), str(AWS_CLI.parent), os.environ.get("PATH", "")]),
        "HOME": str(folder),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(folder / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-credentials"),
    }
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-e", str(script)], env=environment, capture_output=True, text=True, timeout=120, check=False
    )
    seconds = time.monotonic() - started
    calls = sleeps.read_text().splitlines() if sleeps.exists() else []
    return done, calls, seconds


def test_aws_published_mrsc_scenario_runs_unchanged(embedded_aws, clients, tmp_path):
    assert AWS_CLI.exists(), f"the AWS CLI is not installed in the venv ({AWS_CLI})"
    done, sleeps, seconds = run_scenario(embedded_aws.endpoint, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout
    # The describe-table query shows the strong table with its replica and witness.
    assert '"MultiRegionConsistency": "STRONG"' in output
    assert '"RegionName": "us-east-1"' in output and '"Region": "us-west-2"' in output
    # The strongly consistent read in us-east-1, right after the write in us-east-2, found the item.
    assert "Reading from us-east-1 (immediate consistency):" in output
    read = output.split("Reading from us-east-1 (immediate consistency):", 1)[1]
    assert '"S": "Hey Jude"' in read and '"S": "The Beatles 1967-1970"' in read
    # It ran to the end: the pause, then the table deleted; the replica went with the dissolution.
    assert sleeps == ["30"]
    assert "Waiting for replicas to be deleted..." in output
    assert '"TableStatus": "DELETING"' in output.rsplit("Waiting for replicas to be deleted...", 1)[1]
    for region in ("us-east-2", "us-east-1", "us-west-2"):
        ddb = clients.client("dynamodb", region)
        assert "MusicTable" not in table_names(ddb)
        assert error_of(ddb.describe_table, TableName="MusicTable")["Code"] == "ResourceNotFoundException"
    # The table-exists waiter found the table ACTIVE at its first poll: it never slept its 20 s.
    assert seconds < WAITER_DELAY_S, f"the scenario took {seconds:.1f}s: the table-exists waiter slept"
