"""The S3 buckets of `spec.BUCKETS`, created in moto the way the CDK creates them
(versioned, encrypted), and the environment the functions read their names from."""

from __future__ import annotations

from typing import Any

from selfheal_cdk import spec as spec_mod

#: What the training functions are given in AWS by the CDK (image from `-c selfheal:trainingImage`).
LOCAL_TRAINING_IMAGE = "selfheal-forecast-train:local"


def bucket_name(kind: str) -> str:
    return f"selfheal-{kind}-local"


def environment(role_arn: str = "") -> dict[str, str]:
    env = {f"SELFHEAL_BUCKET_{kind.upper()}": bucket_name(kind) for kind in spec_mod.BUCKETS}
    env["SELFHEAL_TRAINING_IMAGE"] = LOCAL_TRAINING_IMAGE
    if role_arn:
        env["SELFHEAL_TRAINING_ROLE_ARN"] = role_arn
    return env


def create(s3: Any) -> dict[str, str]:
    out = {}
    for kind in spec_mod.BUCKETS:
        name = bucket_name(kind)
        s3.create_bucket(Bucket=name)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        out[kind] = name
    return out
