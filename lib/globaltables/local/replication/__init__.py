"""Global tables version 2019.11.21 for the embedded AWS: replicas, replication, last writer wins."""

from globaltables.local.replication.models import GLOBAL_TABLE_VERSION, DelayDistribution, GlobalTables

__all__ = ["GLOBAL_TABLE_VERSION", "DelayDistribution", "GlobalTables"]
