"""Redaction of what selfheal copies out of a host into a page or an audit record: log
excerpts and command output. Runbook 002 §9 forbids logging personal data ("Logar PII"),
and a page goes to people and to chat; a secret in a log line must not travel with it.

Each rule replaces the match with a marker that names what was there (`[email]`,
`[cpf]`, ...), so the excerpt still tells the reader what the line was about. Only text
from outside (log lines, command output) goes through here: selfheal's own identifiers
(incident ids, ARNs, times) are never redacted."""

from __future__ import annotations

import re

#: (marker, pattern), applied in this order: secrets first (a token may contain digits that
#: look like a phone number), then personal data.
RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "[private-key]",
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S
        ),
    ),
    ("[jwt]", re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}")),
    ("[aws-key]", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("Bearer [token]", re.compile(r"\bBearer\s+[\w\-.~+/]{8,}=*", re.I)),
    (
        r"\g<key>\g<sep>[secret]",
        re.compile(
            r"(?P<key>\b[\w-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|"
            r"access[_-]?key|authorization)[\w-]*)(?P<sep>\s*[=:]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,;&]+)",
            re.I,
        ),
    ),
    (
        r"\g<scheme>://[credentials]@",
        re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*)://[^\s/@:]+:[^\s/@]+@", re.I),
    ),
    ("[email]", re.compile(r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b")),
    ("[cnpj]", re.compile(r"\b\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}\b")),
    ("[cpf]", re.compile(r"\b\d{3}\.\d{3}\.\d{3}-\d{2}\b")),
    # A phone number, written as one: +55 (11) 91234-5678, +5511912345678, (11) 1234-5678,
    # 11 91234-5678. A bare run of 10 digits is more often a Unix time than a phone.
    (
        "[phone]",
        re.compile(
            r"(?<![\w.])(\+\d{1,3}[\s-]?\(?\d{2}\)?[\s-]?9?\d{4}[\s-]?\d{4}"
            r"|\(\d{2}\)[\s-]?9?\d{4}[\s-]?\d{4}|\d{2}[\s-]9?\d{4}[\s-]\d{4})(?![\w.])"
        ),
    ),
    # Bare CPF (11 digits) / CNPJ (14 digits) runs: not inside longer numbers.
    ("[cnpj]", re.compile(r"(?<![\d.])\d{14}(?![\d.])")),
    ("[cpf]", re.compile(r"(?<![\d.])\d{11}(?![\d.])")),
)


def text(value: str) -> str:
    """`value` with every personal datum and secret replaced by its marker."""
    for marker, pattern in RULES:
        value = pattern.sub(marker, value)
    return value


def lines(values: list[str]) -> list[str]:
    return [text(v) for v in values]
