"""The HTTPS acknowledgement path (issue 23): `page_ack` behind a Lambda function URL and
the signing secret it verifies every request with (`selfheal_shared/core/page_ack.py`).

The URL takes no IAM auth because its senders (a PagerDuty V3 webhook subscription, a chat
button's backend) cannot sign SigV4; each request is authenticated by its HMAC signature
instead, and the only thing it can change is one page chain's acknowledgement. The secret
is generated at deploy time; give the same value to the webhook subscription."""

from __future__ import annotations

from aws_cdk import CfnOutput
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from selfheal_shared.core import page_ack

from . import nag

FUNCTION = "page_ack"
URL_ONLY_REASON = (
    "Only invoked synchronously through its function URL: the sender gets the answer and a "
    "paging service retries a failed webhook; a Lambda dead-letter queue only receives failed "
    "asynchronous invocations, so it would never receive anything."
)


class PageAckUrl(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.Function) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "SigningSecret",
            secret_name=page_ack.SECRET_NAME,
            description="selfheal: the HMAC key page acknowledgements are signed with "
            "(PagerDuty V3 webhook subscription secret)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        nag.acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "A webhook signing key shared with the paging service: rotated by hand at both "
            "ends together (a Lambda rotation would break the subscription until updated); "
            "several signatures are accepted during a rotation.",
        )
        self.url = function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        CfnOutput(
            self,
            "Url",
            value=self.url.url,
            description="POST signed acknowledgements here (PagerDuty V3 webhook or "
            "selfheal's {incidentId, by})",
        )
