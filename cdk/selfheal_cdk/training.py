"""The role SageMaker training jobs run as: read the training channel, write the model, log.

The image comes from this account's ECR repository `selfheal-forecast-train` (tag from the
`selfheal:trainingImageTag` context, default `latest`): a Python 3.12 image with
`selfheal_shared` on the path whose entry point is `python -m selfheal_shared.ml.forecast_train`.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from constructs import Construct

from . import nag
from .buckets import DataBuckets

REPOSITORY = "selfheal-forecast-train"
ECR_TOKEN_REASON = (
    "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires Resource '*'); "
    "image pulls themselves are limited to the selfheal-forecast-train repository."
)
LOGS_REASON = (
    "SageMaker names each training job's log stream after the job at run time; the grant is "
    "limited to the /aws/sagemaker/TrainingJobs log group."
)


class TrainingJobs(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, buckets: DataBuckets, image_tag: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.image_uri = (
            f"{Aws.ACCOUNT_ID}.dkr.ecr.{Aws.REGION}.{Aws.URL_SUFFIX}/{REPOSITORY}:{image_tag}"
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="selfheal forecast training jobs: read the channel, write the model",
        )
        findings = buckets.grant("models", self.role, "read", prefix="training/*")
        findings += buckets.grant("models", self.role, "write", prefix="artifacts/*")
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                resources=[
                    f"arn:{Aws.PARTITION}:ecr:{Aws.REGION}:{Aws.ACCOUNT_ID}:repository/{REPOSITORY}"
                ],
            )
        )
        group = (
            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}"
            ":log-group:/aws/sagemaker/TrainingJobs"
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{group}:log-stream:*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["logs:CreateLogGroup"], resources=[group])
        )
        nag.acknowledge_iam5(
            self.role,
            [
                *findings,
                ("Resource::*", ECR_TOKEN_REASON),
                (
                    "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
                    "/aws/sagemaker/TrainingJobs:log-stream:*",
                    LOGS_REASON,
                ),
            ],
        )
