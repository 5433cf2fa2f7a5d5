"""AWS's refusals, in AWS's words, from one place: one class per error code and message.

As in moto's own exceptions, each class carries its error code and its message template as class
attributes; a raise site gives only the facts (``raise ReplicaAlreadyExists(name=table.name)``). The
DynamoDB errors are moto ``JsonRESTError``s, so moto's handlers answer them as DynamoDB does (HTTP 400,
``__type`` ``com.amazonaws.dynamodb.v20120810#<code>``); ``WireError``s are the answers the embedded
AWS gives before a request reaches a service (``globaltables.local.unknown``) and are formatted there
for the request's protocol.

Where the wording comes from is said in each class's docstring: AWS's API reference or developer
guide, or a refusal AWS returned that is quoted in a public issue or in a public record of probes of
DynamoDB (the ack-api-quirks catalogue, verified 2026-10-09). A class marked *our wording* refuses
something AWS refuses (or that the embedded AWS does not emulate) whose exact AWS message was not
found; it says what AWS would check and what to do. Curly quotes (‘’) are AWS's own where it uses them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from moto.core.exceptions import JsonRESTError

DYNAMODB_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
FIDELITY = "see the Fidelity table in README.md (section 'The embedded AWS')"


class DynamoDBError(JsonRESTError):
    """A DynamoDB refusal: HTTP 400 with ``error_code`` and ``template`` filled in with the facts."""

    error_code: ClassVar[str] = "ValidationException"
    template: ClassVar[str] = ""

    def __init__(self, **facts: Any) -> None:
        super().__init__(DYNAMODB_ERROR_PREFIX + self.error_code, self.template.format(**facts))


# ----- global tables version 2017.11.29 (Legacy) API -----------------------------------------------


class GlobalTableNotFound(DynamoDBError):
    """DescribeGlobalTable of any name: no table here is a 2017.11.29 global table. AWS's developer
    guide (*Determining the version of a global table*) documents GlobalTableNotFoundException as the
    answer for a table that is not a version 2017.11.29 replica; wording from ack-api-quirks
    DDB-GLOBALTABLE-004."""

    error_code = "GlobalTableNotFoundException"
    template = "Global table not found: Global table with name: '{name}' does not exist."


class GlobalTableSettingsNotFound(DynamoDBError):
    """DescribeGlobalTableSettings, UpdateGlobalTableSettings and UpdateGlobalTable's Delete
    (ack-api-quirks DDB-GLOBALTABLE-004; UpdateGlobalTable Delete's text is not quoted there)."""

    error_code = "GlobalTableNotFoundException"
    template = "Global table with name: '{name}' does not exist."


class LegacyVersionNotSupported(DynamoDBError):
    """CreateGlobalTable and UpdateGlobalTable's Create, as AWS answers them since 2026
    (crossplane-contrib/provider-aws issue 2308, aws-controllers-k8s/dynamodb-controller PR 167)."""

    template = (
        "One or more parameter values were invalid: DynamoDB global tables version 2017.11.29 is not supported. "
        "We recommend using DynamoDB global tables version 2019.11.21, instead of version 2017.11.29 (Legacy)."
    )


class ParameterValuesInvalid(DynamoDBError):
    """UpdateGlobalTable with an empty ReplicaUpdates: AWS's bare prefix, no detail (DDB-GLOBALTABLE-004)."""

    template = "One or more parameter values were invalid"


# ----- DescribeTableReplicaAutoScaling / UpdateTableReplicaAutoScaling -------------------------------


class AutoScalingTableNotFound(DynamoDBError):
    """Either auto scaling API on a table that is missing or has no replica (ack-api-quirks
    DDB-TABLE-231, DDB-TABLE-253)."""

    error_code = "ResourceNotFoundException"
    template = "Global table with name: '{name}' does not exist."


class AutoScalingReplicaNotFound(DynamoDBError):
    """A ReplicaUpdates region that holds no replica: AWS answers ResourceNotFoundException
    (DDB-TABLE-253); *our wording*."""

    error_code = "ResourceNotFoundException"
    template = "Global table with name: '{name}' has no replica in region: '{region}'."


class AutoScalingIndexNotFound(DynamoDBError):
    """An IndexName the table does not have: ResourceNotFoundException (DDB-TABLE-253); *our wording*."""

    error_code = "ResourceNotFoundException"
    template = "Global table with name: '{name}' has no global secondary index: '{index}'."


class AutoScalingParametersRequired(DynamoDBError):
    """An AutoScalingSettingsUpdate that enables auto scaling without all of MinimumUnits, MaximumUnits
    and ScalingPolicyUpdate (DDB-TABLE-253, DDB-TABLE-242; the missing ones are listed)."""

    template = (
        "Failed to update settings for global table with name: ‘{name}’: Parameters {parameters} are required "
        "unless auto scaling is being disabled."
    )


class AutoScalingParametersMustBeBlank(DynamoDBError):
    """AutoScalingDisabled with MinimumUnits, MaximumUnits or ScalingPolicyUpdate (DDB-TABLE-242; AWS's
    text has no colon after the name here)."""

    template = (
        "Failed to update settings for global table with name ‘{name}’: Parameters {parameters} must be left "
        "blank when disabling auto scaling."
    )


class AutoScalingNothingForRegion(DynamoDBError):
    """A ReplicaUpdates entry with only its RegionName (DDB-TABLE-253)."""

    template = (
        "Failed to update settings for global table with name: ‘{name}’ because at least one update parameter "
        "must be specified for region: ‘{region}’."
    )


class AutoScalingRegionRepeated(DynamoDBError):
    """The same region twice in ReplicaUpdates (ack-api-quirks DDB-TABLE-442 catalogue)."""

    template = (
        "Failed to update settings for global table with name: ‘{name}’ because the regions: ‘[{regions}]’ "
        "were specified more than once."
    )


class AutoScalingOnDemandTable(DynamoDBError):
    """Auto scaling settings on an on-demand global table; only AutoScalingDisabled is accepted
    (DDB-TABLE-442 catalogue, including AWS's closing quote ‘…‘)."""

    template = (
        "Failed to update global table with name ‘{name}‘. Replicas {replicas} BillingMode is PayPerRequest. "
        "You must convert table's BillingMode to PROVISIONED to set parameters: {parameters}."
    )


class AutoScalingCapacityRange(DynamoDBError):
    """MinimumUnits above MaximumUnits: Application Auto Scaling's refusal, passed through (DDB-TABLE-253)."""

    template = (
        "Maximum capacity cannot be less than minimum capacity (Service: AWSApplicationAutoScaling; "
        "Status Code: 400; Error Code: ValidationException; Request ID: {request_id}; Proxy: null)"
    )


class AutoScalingTargetValueRange(DynamoDBError):
    """A TargetValue outside 10-90 for DynamoDB's predefined metrics (DDB-TABLE-253: AWS accepts 19.9,
    refuses 90.1 and 100, though its guide says 20-90)."""

    template = (
        "For predefined metric type {metric}, target value must be between '10.0' and '90.0', but was '{value}'. "
        "(Service: AWSApplicationAutoScaling; Status Code: 400; Error Code: ValidationException; "
        "Request ID: {request_id}; Proxy: null)"
    )


class AutoScalingTargetValueInvalid(DynamoDBError):
    """A TargetValue of 0 or less (DDB-TABLE-253)."""

    template = (
        "For target tracking scaling, target value must be between '8.51592E-109' and '1.174271E108', but was "
        "'{value}'. (Service: AWSApplicationAutoScaling; Status Code: 400; Error Code: ValidationException; "
        "Request ID: {request_id}; Proxy: null)"
    )


# ----- UpdateTable ReplicaUpdates -----------------------------------------------------------------


class RegionNotSupported(DynamoDBError):
    """A ReplicaUpdates RegionName that is no DynamoDB region (also 'EU-WEST-1'): DDB-TABLE-223. Used
    too for ListGlobalTables' RegionName, where AWS answers HTTP 500 (DDB-GLOBALTABLE-004): stricter."""

    template = (
        "Region {region} is not supported. The latest version of global tables are only supported in the "
        "following regions: [{regions}]."
    )


class ReplicaActionsOfSeveralTypes(DynamoDBError):
    """One ReplicationGroupUpdate holding two actions, e.g. Create and Delete (DDB-TABLE-223)."""

    template = "Update table operation with more than one type of replica actions not allowed."


class ReplicaActionMissing(DynamoDBError):
    """An empty ReplicationGroupUpdate (DDB-TABLE-223)."""

    template = "There are no actions specified in the Replica Update Action of the request."


class SeveralReplicaChanges(DynamoDBError):
    """More than one replica Create or Delete in one UpdateTable (DDB-TABLE-265; AWS's text has no
    final full stop)."""

    template = "Update table operation with more than one create or delete replica actions not allowed"


class LocalRegionInReplicaUpdates(DynamoDBError):
    """The table's own region in ReplicaUpdates (DDB-TABLE-223, probed 2026 for Create and Delete; a
    2021 quote in rrahul963/serverless-create-global-dynamodb-table issue 44 reads 'add, delete, or
    update')."""

    template = (
        "Cannot add or delete the local region through ReplicaUpdates. "
        "Use CreateTable, DeleteTable, or UpdateTable as required."
    )


class ReplicaAlreadyExists(DynamoDBError):
    """A replica Create for a region that already holds the table, as a replica or a table of its own
    (DDB-TABLE-223; AWS's typo 'a the' and curly quotes)."""

    template = (
        "Failed to create a the new replica of table with name: ‘{name}’ because one or more replicas "
        "already existed as tables."
    )


class ReplicasNotInGlobalTable(DynamoDBError):
    """A replica Update or Delete for a region that holds no replica (DDB-TABLE-223, DDB-TABLE-227)."""

    template = (
        "Update global table operation failed because one or more replicas were not part of the global table. "
        "Please retry the request without these replicas: [{regions}]."
    )


class TableWriteCapacityNotAutoScaled(DynamoDBError):
    """A replica of a provisioned table without write auto scaling (hashicorp/terraform-provider-aws
    issue 13097, aws/aws-cdk issue 11346, DDB-TABLE-188)."""

    template = "Table write capacity should either be Pay-Per-Request or AutoScaled."


class IndexWriteCapacityNotAutoScaled(DynamoDBError):
    """The same for a global secondary index; AWS does not name the index (DDB-TABLE-442, DDB-TABLE-291)."""

    template = "GSI write capacity should either be Pay-Per-Request or AutoScaled."


class StreamViewTypeNotSupported(DynamoDBError):
    """*Our wording*, and stricter than AWS, which accepts a replica of a KEYS_ONLY, NEW_IMAGE or
    OLD_IMAGE stream (ack-api-quirks table/dependencies/replica-prerequisites)."""

    template = (
        "Table: {name} has a DynamoDB stream enabled with view type {view_type}; "
        "global tables need StreamViewType NEW_AND_OLD_IMAGES"
    )


class StreamDisablingNotAllowed(DynamoDBError):
    """StreamEnabled false on a replica (terraform-aws-modules/terraform-aws-dynamodb-table PR 30,
    DDB-TABLE-227)."""

    template = "One or more parameter values were invalid: Disabling Stream is not allowed for a Global Table replica."


class ReplicaKeyThroughSseSpecification(DynamoDBError):
    """*Our wording*: the embedded AWS changes a replica's key only through ReplicaUpdates."""

    template = (
        "One or more parameter values were invalid: the KMS key of a global table replica cannot be changed "
        "through SSESpecification; use ReplicaUpdates with Update.KMSMasterKeyId for each region"
    )


class ReplicaKeyRequired(DynamoDBError):
    """A customer-managed-key table's replica without its own key (DDB-TABLE-309, DDB-TABLE-442)."""

    template = "One or more parameter values were invalid: KMSMasterKeyId must be specified for each replica."


class ReplicaKeyNotFound(DynamoDBError):
    """A replica key that does not resolve in the replica's region: AWS passes KMS's NotFoundException
    through, 'KMS validation error for region <region>: ...' (DDB-TABLE-309); the KMS part is KMS's usual
    text ('Invalid arn <region>' for another region's ARN, 'Alias <alias> is not found.', 'Key '<arn>' does
    not exist'), without KMS's request id."""

    template = "KMS validation error for region {region}: com.amazonaws.services.kms.model.NotFoundException: {detail}"

    def __init__(self, region: str, key: str) -> None:
        if key.startswith("arn:") and key.split(":")[3:4] != [region]:
            detail = f"Invalid arn {key.split(':')[3]}"
        elif key.startswith("alias/") or ":alias/" in key:
            detail = f"Alias {key} is not found."
        else:
            detail = f"Key '{key}' does not exist"
        super().__init__(region=region, detail=detail)


class UnknownReplicaAction(DynamoDBError):
    """*Our wording*; botocore lets only Create, Update, Delete and Disassociate through."""

    template = "Unknown replica action {action}: use Create, Update or Delete"


class ResourceInUse(DynamoDBError):
    """A change while the global table is UPDATING (a replica CREATING or DELETING): AWS's developer
    guide (*Error handling*, ResourceInUseException) and DDB-TABLE-227, DDB-TABLE-329."""

    error_code = "ResourceInUseException"
    template = "The resource which you are attempting to change is in use."


class TableNotReady(DynamoDBError):
    """A change to a table still CREATING (or DELETING): AWS's words for a TagResource on a table being
    created (ack-api-quirks, table/state-machine); the DELETING form follows it (*our wording*)."""

    error_code = "ResourceInUseException"
    template = "Attempt to change a resource which is still in use: Table is being {being}: {name}"


class ContinuousBackupsUnavailable(DynamoDBError):
    """UpdateContinuousBackups or CreateBackup in the first seconds after a table or replica turns ACTIVE.
    AWS's API reference lists ContinuousBackupsUnavailableException for both ("Backups have not yet been
    enabled for this table"); the message and its 3-6 s window after ACTIVE are from the ack-api-quirks
    catalogue (DDB-TABLE-442: "Backups are being enabled for the table: <TBL>. Please retry later")."""

    error_code = "ContinuousBackupsUnavailableException"
    template = "Backups are being enabled for the table: {name}. Please retry later"


# ----- deletion protection ------------------------------------------------------------------------


class TableDeletionProtected(DynamoDBError):
    """DeleteTable of a table (not a replica) whose deletion protection is on (DDB-TABLE-442, live probe)."""

    template = (
        "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first."
    )


class ReplicaDeletionProtected(DynamoDBError):
    """Deleting a replica whose deletion protection is on, by ReplicaUpdates Delete or by DeleteTable in
    its region (DDB-TABLE-329, DDB-TABLE-442)."""

    template = (
        "Cannot delete table {name} in region {region} because it has deletion protection enabled. "
        "Disable deletion protection first."
    )


# ----- multi-Region strong consistency (MRSC) -----------------------------------------------------
# AWS documents the rules (developer guide, *How DynamoDB global tables work*; the API reference of
# ``UpdateTable``) but no message for any refusal. Where ack-api-quirks recorded one DynamoDB returned
# (third party, observed, DDB-TABLE-201/220/259/261), it is used and said so; the rest are *our wording*.

STRONG = "global tables with MultiRegionConsistency set to STRONG"
STRONG_TABLE = "global table with MultiRegionConsistency set to STRONG"


class StrongReplicaCount(DynamoDBError):
    """Not exactly three regions in all (the table's, the replicas', the witness'): AWS's rule "A MRSC
    global table must be deployed in exactly three Regions"; wording observed by ack-api-quirks."""

    template = f"Unsupported replica count for {STRONG}."


class WitnessNeedsStrong(DynamoDBError):
    """``GlobalTableWitnessUpdates`` without ``MultiRegionConsistency: STRONG`` (ack-api-quirks)."""

    template = "MultiRegionConsistency must be set as STRONG when GlobalTableWitnessUpdates parameter is present."


class TooManyWitnesses(DynamoDBError):
    """More than one witness update: the service model's ``max: 1``, in AWS's constraint wording."""

    template = (
        "1 validation error detected: Value '{value}' at 'globalTableWitnessUpdates' failed to satisfy "
        "constraint: Member must have length less than or equal to 1"
    )


class RegionTargetedTwice(DynamoDBError):
    """The same region twice among the replicas and the witness to create (ack-api-quirks)."""

    template = "Cannot target multiple regions with the same action"


class WitnessInReplicaRegion(DynamoDBError):
    """The witness in the table's own region (ack-api-quirks)."""

    template = f"Cannot add a witness in the same region as an existing replica when creating a {STRONG_TABLE}."


class StrongRegionUnsupported(DynamoDBError):
    """A region in none of AWS's three MRSC region sets (ack-api-quirks; the regions listed)."""

    template = f"Unsupported Region(s) specified for {STRONG}: [{{regions}}]."


class StrongRegionSetsMixed(DynamoDBError):
    """Regions of two MRSC region sets: AWS documents "MRSC global tables cannot span Region sets"
    (ack-api-quirks saw one such request accepted); *our wording*, naming each region's set."""

    template = (
        f"Unsupported Region combination for {STRONG}: {{members}}. All Regions of the global table, witness "
        "included, must belong to one Region set: {sets}."
    )


class StrongTableNotEmpty(DynamoDBError):
    """AWS's rule ("Converting a single-Region table to a MRSC global table with existing items is not
    supported"); *our wording*."""

    template = (
        f"Table {{name}} contains items. Only an empty table can be converted to a {STRONG_TABLE}; "
        "converting a table with existing items is not supported."
    )


class StrongLocalIndexes(DynamoDBError):
    """AWS's rule ("Local secondary indexes (LSIs) are not supported for MRSC global tables"); *our wording*."""

    template = f"Local secondary indexes are not supported for {STRONG}. Table {{name}} has: {{indexes}}."


class StrongTimeToLive(DynamoDBError):
    """AWS's rule ("Time to Live (TTL) is not supported for MRSC global tables"), for ``UpdateTimeToLive``
    on a member and for converting a table whose TTL is enabled; *our wording*."""

    template = f"Time to Live is not supported for {STRONG}: {{name}}."


class StrongTransactions(DynamoDBError):
    """AWS: MRSC tables "do not support transaction operations, and will return an error if those
    operations are invoked on an MRSC replica"; the code and wording are *ours*."""

    template = f"Transactions are not supported for {STRONG}: {{operation}} names table {{name}}."


class StrongOtherFields(DynamoDBError):
    """Another setting in the UpdateTable that creates or dissolves an MRSC table (ack-api-quirks)."""

    template = "Requests that modify replicas or witnesses must not also modify other fields"


class StrongExistingGlobalTable(DynamoDBError):
    """``MultiRegionConsistency`` on a table that already is a global table, either mode: AWS's rule
    "You cannot change a global table's consistency mode after creation" (wording: ack-api-quirks)."""

    template = "MultiRegionConsistency parameter is unsupported on existing global table"


class StrongOnlyCreates(DynamoDBError):
    """``MultiRegionConsistency`` with a replica Update or Delete (ack-api-quirks)."""

    template = "Only Replica Create actions are supported when MultiRegionConsistency parameter is provided."


class StrongNoNewReplicas(DynamoDBError):
    """A replica Create on an MRSC table: "You cannot add additional replicas to an existing MRSC global
    table" (wording: ack-api-quirks)."""

    template = "Cannot add replicas to a global table with strong MultiRegionConsistency"


class StrongNoNewWitness(DynamoDBError):
    """A witness Create on an existing table: "The witness must be added when creating the MRSC global
    table" (service model); *our wording*."""

    template = (
        f"Cannot add a witness to an existing global table. The witness must be added when creating a "
        f"{STRONG_TABLE}, in the same UpdateTable as its replicas."
    )


class StrongSingleReplicaDeletion(DynamoDBError):
    """``DeleteTable`` of a member, or a single replica Delete on a three-replica table: AWS's rule "You
    cannot delete a single replica or a witness from a MRSC global table" (wording: ack-api-quirks)."""

    template = f"Deletion of only one table replica is not supported for {STRONG}."


class StrongDeleteWithoutWitness(DynamoDBError):
    """One replica Delete on a table with a witness, without the witness (ack-api-quirks)."""

    template = "Update table delete operation does not include all witnesses."


class StrongWitnessOnlyDeletion(DynamoDBError):
    """A witness Delete without a replica Delete: the service model's "you must delete both a replica
    and the witness together"; *our wording* in those words."""

    template = (
        f"Deletion of only the witness is not supported for {STRONG}. "
        "Delete a replica and the witness together in one request."
    )


class WitnessesNotInGlobalTable(DynamoDBError):
    """A witness Delete for a region that is not the table's witness (ack-api-quirks recorded the end
    of the message; its start follows ``ReplicasNotInGlobalTable``)."""

    template = (
        "Update global table operation failed because one or more witnesses were not part of the global table. "
        "Please retry the request without these witnesses: [{regions}]."
    )


class ReplicatedWriteConflict(DynamoDBError):
    """A write to an item that a write from another region is still replicating: the service model's
    documentation string of ReplicatedWriteConflictException; AWS's runtime text is not documented.
    HTTP 409, as botocore's retry configuration (``_retry.json``, DynamoDB's ``write_conflict`` policy)
    expects it from AWS: that legacy retry mode retries it only with status 409."""

    code = 409
    error_code = "ReplicatedWriteConflictException"
    template = (
        "The request was rejected because one or more items in the request are being modified by a request "
        "in another Region."
    )


class NoQuorum(DynamoDBError):
    """A write or strongly consistent read in a region that reaches no other region of its MRSC table.
    AWS documents only that such requests "will return errors" while eventually consistent reads are
    served; HTTP 500 InternalServerError and the wording are *ours*."""

    code = 500
    error_code = "InternalServerError"
    template = (
        "Internal server error: Region {region} cannot reach another Region of the global table {name} to "
        "establish a quorum; only eventually consistent reads are served there meanwhile."
    )


# ----- what the embedded AWS does not emulate ------------------------------------------------------


class ParameterNotEmulated(DynamoDBError):
    """*Our wording*: a parameter moto would accept and ignore is refused instead, so that a script that
    relies on it fails here as clearly as it would behave differently on AWS."""

    template = (
        "One or more parameter values were invalid: {operation} parameter {parameter} is not emulated by the "
        "embedded AWS, which refuses it rather than ignore it; {fidelity}"
    )

    def __init__(self, **facts: Any) -> None:
        super().__init__(fidelity=FIDELITY, **facts)


# ----- answers given before a request reaches a service (globaltables.local.unknown) ---------------


class WireError:
    """An answer in the protocol of the request: ``json_*`` for JSON and REST protocols (DynamoDB, KMS,
    Lambda, ...), ``query_*`` for query protocols (IAM, STS, CloudWatch, EC2, ...). ``template`` is filled
    in with the facts and with the protocol's ``*_words`` (AWS's own sentence, where it has one)."""

    json_code: ClassVar[str]
    query_code: ClassVar[str]
    json_status: ClassVar[int] = 400
    query_status: ClassVar[int] = 400
    json_words: ClassVar[str] = ""
    query_words: ClassVar[str] = ""
    template: ClassVar[str]

    def __init__(self, **facts: Any) -> None:
        self.facts = facts

    def code(self, protocol: str) -> str:
        return self.query_code if protocol == "query" else self.json_code

    def status(self, protocol: str) -> int:
        return self.query_status if protocol == "query" else self.json_status

    def message(self, protocol: str) -> str:
        words = self.query_words if protocol == "query" else self.json_words
        return self.template.format(aws_words=words, **self.facts).strip()


class UnknownOperation(WireError):
    """An operation the embedded AWS does not implement. AWS answers an operation it does not know with
    UnknownOperationException, 'Unknown operation exception' (HTTP 400; boto/boto3 issue 1542,
    aws/aws-toolkit-jetbrains issue 2956) on JSON protocols, and InvalidAction, 'The action or operation
    requested is invalid. Verify that the action is typed correctly.' (HTTP 400; AWS's *Common Errors*)
    on query protocols. AWS's words first, then which operation and why."""

    json_code = "UnknownOperationException"
    query_code = "InvalidAction"
    json_words = "Unknown operation exception."
    query_words = "The action or operation requested is invalid. Verify that the action is typed correctly."
    template = (
        "{aws_words} The embedded AWS (moto {moto_version}) does not implement {service} {operation}; " + FIDELITY
    )


class FeatureNotImplemented(WireError):
    """A known operation that moto cannot carry out with these parameters (moto raises
    NotImplementedError). HTTP 501, which no SDK retries; *our wording*."""

    json_code = query_code = "NotImplemented"
    json_status = query_status = 501
    template = (
        "The embedded AWS (moto {moto_version}) cannot do this {service} {operation} request: {detail}; " + FIDELITY
    )


class CredentialRegionInvalid(WireError):
    """A request signed for a region that does not exist. AWS refuses the signature: 'Credential should be
    scoped to a valid region, not '<region>'.' (AWS's IAM guide, *Troubleshoot signed requests*; the
    quoted form in aws/aws-sdk-java issue 1097, JuliaCloud/AWS.jl issue 565) with InvalidSignatureException
    on JSON protocols and SignatureDoesNotMatch (HTTP 403) on query protocols."""

    json_code = "InvalidSignatureException"
    query_code = "SignatureDoesNotMatch"
    query_status = 403
    template = "Credential should be scoped to a valid region, not '{region}'."
