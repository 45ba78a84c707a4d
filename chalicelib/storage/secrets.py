"""A secret of the stack's Secrets Manager (booking/queue.py reads the waiting room's signing key
with it): the AWS library stays out of the use cases."""

from __future__ import annotations


def read_secret(secret_id: str) -> str:
    """The secret's current string (GetSecretValue); the caller keeps it for the process."""
    import boto3  # here, not at import: only a process that serves the waiting room pays for it
    from botocore.config import Config

    from chalicelib import settings

    # Short: it is read inside a citizen's request; a slow read fails that request, not the next.
    config = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 3, "mode": "standard"})
    client = boto3.session.Session().client("secretsmanager", region_name=settings.get().region, config=config)
    return client.get_secret_value(SecretId=secret_id)["SecretString"]
