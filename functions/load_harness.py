"""Lambda handler of the load fan-out (notebook 07, ``load_engine: lambda``): the open- or closed-loop
harness, run inside AWS Lambda against the replica of the function's own region.

Event: ``{"plan": <globaltables.loadgen.Plan as JSON>, "invocation": <number>}``. Environment:
TABLE_NAME. The harness (``globaltables.loadgen``, shipped in the zip with ``hdrh`` and a pure-Python
``pyhdrh``) runs for the plan's fixed time through a DynamoDB client of ``AWS_REGION`` with boto3's
retries off (the harness counts and backs off throttles itself), and the handler returns what it
measured: HDR histograms in HdrHistogram's compressed form, and the counts beside them.
"""

import os
import sys

import boto3
from botocore.config import Config
from globaltables import loadgen

# Time the function keeps beyond the harness's wall-clock end: calls in flight, encoding, the answer.
MARGIN_S = 3.0


def handler(event, context):
    plan = loadgen.Plan.from_json(event["plan"])
    needed_s = plan.planned_s + loadgen.IN_FLIGHT_GRACE_S + MARGIN_S
    remaining_s = context.get_remaining_time_in_millis() / 1000
    if remaining_s < needed_s:
        raise ValueError(
            f"the load needs {needed_s:.1f} s (warm-up + duration + grace) and the function has {remaining_s:.1f} s "
            "left: raise its timeout or shorten load_duration_s"
        )
    region = os.environ["AWS_REGION"]
    client = boto3.client(
        "dynamodb",
        region_name=region,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=plan.workers + 2),
    )
    tally = loadgen.run(client, os.environ["TABLE_NAME"], plan)
    codec = getattr(sys.modules.get("pyhdrh"), "__file__", "") or ""
    return {
        "region": region,
        "invocation": event.get("invocation"),
        "tally": tally.to_json(),
        "hdr_codec": "pure Python" if codec.endswith(".py") else "C extension",
    }
