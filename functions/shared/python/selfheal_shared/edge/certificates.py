"""Which certificate was issued from a CSR: its subject, copied from the CSR into the
certificate. CreateCertificateFromCsr keeps no token, so after a lost response this is how
the renewal finds the certificate it made instead of issuing a second one."""

from __future__ import annotations

import base64
import re

_PEM = re.compile(r"-----BEGIN [A-Z ]+-----(.*?)-----END [A-Z ]+-----", re.S)


def _der(pem: str) -> bytes:
    match = _PEM.search(pem)
    if match is None:
        raise ValueError("not a PEM document")
    return base64.b64decode("".join(match.group(1).split()))


def _element(der: bytes, at: int) -> tuple[int, int]:
    """(start of the content, end of the element) of the DER element at `at`."""
    length, head = der[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[head : head + count], "big")
        head += count
    return head, head + length


def csr_subject(pem: str) -> bytes:
    """The DER of a CSR's subject: CertificationRequest → CertificationRequestInfo →
    (version, subject, ...)."""
    der = _der(pem)
    info, _ = _element(der, 0)  # the CertificationRequestInfo element
    version, _ = _element(der, info)  # its first element: the version
    _, version_end = _element(der, version)
    _, subject_end = _element(der, version_end)
    return der[version_end:subject_end]


def issued_from(certificate_pem: str, csr_pem: str) -> bool:
    return csr_subject(csr_pem) in _der(certificate_pem)
