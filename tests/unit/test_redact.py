"""Log excerpts and command output are redacted before they reach a page or the audit
(runbook 002 §9: "Logar PII" is forbidden): e-mail, CPF/CNPJ, phone numbers, tokens, keys."""

from __future__ import annotations

import pytest
from selfheal_shared.core import redact


@pytest.mark.parametrize(
    ("raw", "seen"),
    [
        ("login failed for joao.silva@example.com.br", "login failed for [email]"),
        ("cliente CPF 123.456.789-09", "cliente CPF [cpf]"),
        ("cpf=12345678909 ok", "cpf=[cpf] ok"),
        ("CNPJ 12.345.678/0001-90 / 12345678000190", "CNPJ [cnpj] / [cnpj]"),
        ("ligar +55 (11) 91234-5678 ou (21) 3456-7890", "ligar [phone] ou [phone]"),
        ("tel 11 91234 5678, +5511912345678", "tel [phone], [phone]"),
        ("Authorization: Bearer abcdefghijklmnop.qrs", "Authorization: [secret] [token]"),
        ("api_key=sk_live_123456 password: 'hunter2'", "api_key=[secret] password: [secret]"),
        ("X-Api-Key: 0123abcd", "X-Api-Key: [secret]"),
        ("dsn postgres://equivalence:s3cret@db:5432/eq", "dsn postgres://[credentials]@db:5432/eq"),
        ("key AKIAIOSFODNN7EXAMPLE used", "key [aws-key] used"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefgh!", "jwt [jwt]!"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "[private-key]"),
    ],
)
def test_personal_data_and_secrets_are_replaced_by_what_they_were(raw: str, seen: str) -> None:
    assert redact.text(raw) == seen


@pytest.mark.parametrize(
    "line",
    [
        "2026-12-06T23:10:53.123Z ERROR connection refused 127.0.0.1:6379 pid=12345",
        "P2002 Unique constraint failed on the fields: (`device_id`,`timestamp`)",
        "took 1234 ms, queue depth 5678; version 1.2.3 build 20261206",
        "hoursSinceLastData 0.05 at 1733520000",
        "Jobs queued: 12, failed: 0 (rq info)",
    ],
)
def test_what_an_operator_needs_is_left_alone(line: str) -> None:
    assert redact.text(line) == line
