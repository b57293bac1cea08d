"""What every domain uses and that knows no domain: the remediator protocol (`protocol`,
`effects`, `guards`, `refusals`, `audit`, `notify`, `incidents`, `handler`), the plumbing
(`clients`, `clock`, `config`, `observability`, `idempotency`, `errors`, `outcomes`), the
shared models (`basemodel`, `models`, `alarm_event`, `input_schema`) and the mechanisms
several domains build on (`severity`, `national_calendar`, `windows`, `leases`, `fanout`,
`targets`, `approvals`, `run_command`, `appconfig_deploy`, `datalake`, `bucket_copy`,
`lambda_health`). Imports no domain."""
