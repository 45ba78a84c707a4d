"""The S3 client the SMART feed's store writes with (booking/feed.py `S3FeedStore`): the AWS
library stays out of the use cases."""

from __future__ import annotations

from typing import Any


def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    from chalicelib.storage.models import region

    config = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.session.Session().client("s3", region_name=region(), config=config)
