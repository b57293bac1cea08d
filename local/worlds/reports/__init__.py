"""The reports domain's world (`fiscal_report`): organizations, their sites' readings and
the invoices that bill them (`fiscal.py`). Its sites' load shape is the ml world's too."""

from .fiscal import (
    BatterySite,
    FiscalOrg,
    FiscalWorld,
    ReportsSpec,
    ReportsWorld,
    load_shape,
    site_intervals,
    site_invoice,
)

__all__ = [
    "BatterySite",
    "FiscalOrg",
    "FiscalWorld",
    "ReportsSpec",
    "ReportsWorld",
    "load_shape",
    "site_intervals",
    "site_invoice",
]
