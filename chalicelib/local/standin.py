"""The local stand-in for the AWS services Timebok uses (DynamoDB, SQS), backed by moto: one name
for its three parts, which live by responsibility in

* `moto_server`: `AtomicMotoServer`, moto's HTTP server processing one request at a time, so
  that every API call (a transaction above all) is atomic under concurrent clients;
* `cloudformation`: the template's Resources and the intrinsics resolved locally;
* `resources`: `create_resources`, the table and queues made from `infra/resources.yaml`, the
  same template that is deployed, so local and AWS cannot drift apart.
"""

from __future__ import annotations

from chalicelib.local.cloudformation import (
    DEAD_LETTER_QUEUE_RESOURCE,
    DEFAULT_TEMPLATE_PATH,
    QUEUE_RESOURCE,
    TABLE_RESOURCE,
)
from chalicelib.local.moto_server import MOTO_LOCK, AtomicMotoServer, SerializedWSGIApp, Shedding
from chalicelib.local.resources import create_resources

__all__ = [
    "DEAD_LETTER_QUEUE_RESOURCE",
    "DEFAULT_TEMPLATE_PATH",
    "MOTO_LOCK",
    "QUEUE_RESOURCE",
    "TABLE_RESOURCE",
    "AtomicMotoServer",
    "SerializedWSGIApp",
    "Shedding",
    "create_resources",
]
