"""Write auto scaling of a global table, synchronised to every replica as AWS does.

AWS applies the table's and each index's write auto scaling (the Application Auto Scaling scalable
target of ``dynamodb:table:WriteCapacityUnits`` or ``dynamodb:index:WriteCapacityUnits`` and its
policies) to every replica, and a replica added later gets it (``ReplicationGroupUpdate``,
``UpdateTableReplicaAutoScaling``, CloudFormation ``WriteProvisionedThroughputSettings``: "This
policy will be applied to all replicas"). Here:

- ``RegisterScalableTarget``, ``PutScalingPolicy``, ``DeregisterScalableTarget`` and
  ``DeleteScalingPolicy`` of a write dimension of a table that is a replica are mirrored to the
  replicas in every other region (not those DELETING): same minimum, maximum and policy configuration,
  the policy's alarms made by moto in each region. Read dimensions stay in their region (overridable
  per replica, as on AWS).
- A call that changes nothing (the same target or policy again, as 02 makes it in every region) leaves
  the target and policy as they are, alarms and ARN included; a policy replaced by another
  configuration loses its old alarms (moto would leave them behind).
- Deleting, in a region, a target or policy that is not there answers ``ObjectNotFoundException``, as
  Application Auto Scaling does (moto answers ``ValidationException``): a cleanup that deletes in every
  region what the first deletion already removed everywhere sees "already gone".
- ``RegisterScalableTarget`` of any DynamoDB dimension (read or write) of a table, or of an index, that
  does not exist in the caller's region is refused as Application Auto Scaling refuses it:
  ``ValidationException`` "DynamoDB table does not exist: table/NAME" (quoted in
  terraform-aws-modules/terraform-aws-dynamodb-table issue 15 and ocadotechnology/hippolyte issue 7)
  and "DynamoDB index does not exist: table/NAME/index/INDEX" (ack-api-quirks DDB-TABLE-322, verified
  2026-10-09). moto registers anything. A table still CREATING exists and is accepted: AWS documents
  that registering a target of a resource "not active in the target service" leaves its capacity as
  it is, not that it is refused.
- ``copy_write_scaling`` gives a new replica's region the source's write targets and policies.
- A replica deleted keeps its region's targets, policies and alarms (``ReplicationGroupUpdate``: they
  are not removed automatically): nothing here acts on a deletion.

Hooked at ``ApplicationAutoscalingBackend``'s four methods (rows in ``hooks.py``): every request of
those actions, and ``UpdateTableReplicaAutoScaling``, passes there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend, applicationautoscaling_backends
from moto.applicationautoscaling.models import FakeApplicationAutoscalingPolicy as Policy
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import dynamodb_backends

NAMESPACE = "dynamodb"
WRITE_DIMENSIONS = ("dynamodb:table:WriteCapacityUnits", "dynamodb:index:WriteCapacityUnits")
METHODS = ("register_scalable_target", "put_scaling_policy", "deregister_scalable_target", "delete_scaling_policy")


class ObjectNotFound(JsonRESTError):
    """Application Auto Scaling's answer to deleting or deregistering what is not there."""

    def __init__(self, message: str) -> None:
        super().__init__("ObjectNotFoundException", message)


def check_resource_exists(backend: Any, namespace: str, resource_id: str) -> None:
    """Refuse a DynamoDB table or index that is not in ``backend``'s region, in AWS's words."""
    if namespace != NAMESPACE:
        return
    parts = str(resource_id or "").split("/")
    name = table_name_of(resource_id)
    table = dynamodb_backends[backend.account_id][backend.region_name].tables.get(name) if name else None
    if table is None:
        raise AWSValidationException(f"DynamoDB table does not exist: table/{name}")
    if len(parts) >= 4 and parts[2] == "index" and parts[3] not in {index.name for index in table.global_indexes}:
        raise AWSValidationException(f"DynamoDB index does not exist: {resource_id}")


def table_name_of(resource_id: str) -> str | None:
    """``table/NAME`` or ``table/NAME/index/INDEX``: NAME."""
    parts = str(resource_id or "").split("/")
    return parts[1] if len(parts) >= 2 and parts[0] == "table" else None


def other_regions(model: Any, backend: Any, namespace: str, resource_id: str, dimension: str) -> list[str]:
    """The regions a write dimension of a replica in ``backend``'s region is mirrored to (none for any other)."""
    if namespace != NAMESPACE or dimension not in WRITE_DIMENSIONS:
        return []
    name = table_name_of(resource_id)
    table = dynamodb_backends[backend.account_id][backend.region_name].tables.get(name) if name else None
    group = model.group_of(table) if table is not None else None
    if group is None:
        return []
    return [
        region
        for region, replica in sorted(group.replicas.items())
        if region != backend.region_name and replica.status != "DELETING"
    ]


def _backend(backend: Any, region: str) -> Any:
    return applicationautoscaling_backends[backend.account_id][region]


def _same_policy(old: Any, policy_type: str | None, policy_body: dict[str, Any] | None) -> bool:
    return (policy_type or old.policy_type) == old.policy_type and (policy_body or old._policy_body) == old._policy_body


def _put_policy(
    original: Callable[..., Any],
    backend: Any,
    name: str,
    namespace: str,
    resource_id: str,
    dimension: str,
    body: dict[str, Any] | None,
    policy_type: str | None,
) -> Any:
    """moto's put_scaling_policy, except that the same policy again is left as it is, and a replaced
    policy's alarms go with it."""
    old = backend.policies.get(Policy.formulate_key(namespace, resource_id, dimension, name))
    if old is not None and _same_policy(old, policy_type, body):
        return old
    policy = original(backend, name, namespace, resource_id, dimension, body, policy_type)
    if old is not None and old is not policy:
        old.delete_alarms(backend.account_id, backend.region_name)
    return policy


def make_register(model: Any, original: Callable[..., Any]) -> Callable[..., Any]:
    def register_scalable_target(
        self: Any,
        namespace: str,
        r_id: str,
        dimension: str,
        min_capacity: int | None,
        max_capacity: int | None,
        role_arn: str,
        suspended_state: str,
    ) -> Any:
        check_resource_exists(self, namespace, r_id)
        target = original(self, namespace, r_id, dimension, min_capacity, max_capacity, role_arn, suspended_state)
        for region in other_regions(model, self, namespace, r_id, dimension):
            original(
                _backend(self, region),
                namespace,
                r_id,
                dimension,
                target.min_capacity,
                target.max_capacity,
                target.role_arn,
                target.suspended_state,
            )
        return target

    return register_scalable_target


def make_put_policy(model: Any, original: Callable[..., Any]) -> Callable[..., Any]:
    def put_scaling_policy(
        self: Any,
        policy_name: str,
        service_namespace: str,
        resource_id: str,
        scalable_dimension: str,
        policy_body: dict[str, Any],
        policy_type: str | None,
    ) -> Any:
        if service_namespace != NAMESPACE:
            return original(
                self, policy_name, service_namespace, resource_id, scalable_dimension, policy_body, policy_type
            )
        args = (policy_name, service_namespace, resource_id, scalable_dimension)
        policy = _put_policy(original, self, *args, policy_body, policy_type)
        for region in other_regions(model, self, service_namespace, resource_id, scalable_dimension):
            _put_policy(original, _backend(self, region), *args, policy._policy_body, policy.policy_type)
        return policy

    return put_scaling_policy


def make_deregister(model: Any, original: Callable[..., Any]) -> Callable[..., Any]:
    def deregister_scalable_target(self: Any, namespace: str, r_id: str, dimension: str) -> None:
        if namespace == NAMESPACE and r_id not in self.targets.get(dimension, {}):
            raise ObjectNotFound(
                f"No scalable target found for service namespace: {namespace}, resource ID: {r_id}, "
                f"scalable dimension: {dimension}"
            )
        original(self, namespace, r_id, dimension)
        for region in other_regions(model, self, namespace, r_id, dimension):
            other = _backend(self, region)
            if r_id in other.targets.get(dimension, {}):
                original(other, namespace, r_id, dimension)

    return deregister_scalable_target


def make_delete_policy(model: Any, original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_scaling_policy(
        self: Any, policy_name: str, service_namespace: str, resource_id: str, scalable_dimension: str
    ) -> None:
        key = Policy.formulate_key(service_namespace, resource_id, scalable_dimension, policy_name)
        if service_namespace == NAMESPACE and key not in self.policies:
            raise ObjectNotFound(
                f"No scaling policy found for service namespace: {service_namespace}, resource ID: {resource_id}, "
                f"scalable dimension: {scalable_dimension}, policy name: {policy_name}"
            )
        original(self, policy_name, service_namespace, resource_id, scalable_dimension)
        for region in other_regions(model, self, service_namespace, resource_id, scalable_dimension):
            other = _backend(self, region)
            if key in other.policies:
                original(other, policy_name, service_namespace, resource_id, scalable_dimension)

    return delete_scaling_policy


def copy_write_scaling(account_id: str, source_region: str, region: str, table_name: str) -> None:
    """Give ``region`` the write targets and policies of ``table_name`` (table and indexes) that
    ``source_region`` has: a new replica gets the table's write auto scaling. moto's own methods
    (``vars`` of the class: the hooks would mirror to the group, which is not needed here)."""
    source, target = (applicationautoscaling_backends[account_id][r] for r in (source_region, region))
    register = _unwrapped("register_scalable_target")
    put = _unwrapped("put_scaling_policy")
    for dimension in WRITE_DIMENSIONS:
        for resource_id, scalable in list(source.targets.get(dimension, {}).items()):
            if table_name_of(resource_id) != table_name:
                continue
            register(
                target,
                NAMESPACE,
                resource_id,
                dimension,
                scalable.min_capacity,
                scalable.max_capacity,
                scalable.role_arn,
                scalable.suspended_state,
            )
    for policy in list(source.policies.values()):
        if (
            policy.service_namespace == NAMESPACE
            and policy.scalable_dimension in WRITE_DIMENSIONS
            and table_name_of(policy.resource_id) == table_name
        ):
            _put_policy(
                put,
                target,
                policy.policy_name,
                NAMESPACE,
                policy.resource_id,
                policy.scalable_dimension,
                policy._policy_body,
                policy.policy_type,
            )


def _unwrapped(name: str) -> Callable[..., Any]:
    method = getattr(ApplicationAutoscalingBackend, name)
    return getattr(method, "__wrapped__", method)
