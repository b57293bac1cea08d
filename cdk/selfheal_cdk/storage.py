"""DynamoDB tables every remediator shares: the audit trail, idempotency records, guard state.

The table *names* come from `spec.TABLES`; their key shapes are infrastructure facts kept
here, next to the one place that decides who may do what with each table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

#: The audit trail is append-only: remediators write records and read an incident's history,
#: and nothing may rewrite or delete one ("never alter audit records").
AUDIT_ACTIONS: tuple[str, ...] = ("dynamodb:PutItem", "dynamodb:Query")


@dataclass(frozen=True)
class TableShape:
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None
    #: Kept when the stack is deleted (evidence), instead of being dropped with it.
    retain: bool = False


SHAPES: dict[str, TableShape] = {
    "audit": TableShape("incidentId", "seq", retain=True),
    # Powertools' DynamoDBPersistenceLayer: key attribute `id`, expiry attribute `expiration`.
    "idempotency": TableShape("id", ttl_attribute="expiration"),
    "guard_state": TableShape("pk", ttl_attribute="ttl"),
}


class Storage(Construct):
    """One table per name in `spec.TABLES`, and the grants that keep the audit trail append-only."""

    def __init__(self, scope: Construct, construct_id: str, *, names: Iterable[str]) -> None:
        super().__init__(scope, construct_id)
        self.tables: dict[str, dynamodb.Table] = {}
        for name in names:
            if name not in SHAPES:
                raise ValueError(f"table {name!r} has no key shape in {__name__}.SHAPES")
            self.tables[name] = self._table(name, SHAPES[name])

    def _table(self, name: str, shape: TableShape) -> dynamodb.Table:
        string = dynamodb.AttributeType.STRING
        return dynamodb.Table(
            self,
            name,
            partition_key=dynamodb.Attribute(name=shape.partition_key, type=string),
            sort_key=dynamodb.Attribute(name=shape.sort_key, type=string)
            if shape.sort_key
            else None,
            time_to_live_attribute=shape.ttl_attribute,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=shape.retain,
            removal_policy=RemovalPolicy.RETAIN if shape.retain else RemovalPolicy.DESTROY,
        )

    def grant(
        self,
        name: str,
        grantee: iam.IGrantable,
        *,
        actions: Iterable[str] = (),
        read_only: bool = False,
    ) -> None:
        """Grant `grantee` use of table `name`: exactly `actions` if given, else the table's
        default (append-only for the audit trail, read/write for the others), or only the
        reads with `read_only`."""
        table = self.tables[name]
        wanted = tuple(actions) or (("dynamodb:Query",) if read_only and name == "audit" else ())
        if name == "audit":
            extra = set(wanted) - set(AUDIT_ACTIONS)
            if extra:
                raise ValueError(f"the audit table is append-only; refusing {sorted(extra)}")
            table.grant(grantee, *(wanted or AUDIT_ACTIONS))
        elif wanted:
            table.grant(grantee, *wanted)
        elif read_only:
            table.grant_read_data(grantee)
        else:
            table.grant_read_write_data(grantee)
