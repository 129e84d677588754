"""Asset keys of the bank domain: the statement drop (its component) and the reconciliation."""

import dagster as dg

GROUP = "bank"
OWNERS = ["team:finance"]

PARSED_KEY = dg.AssetKey(["warehouse", "bank", "parsed"])
RECONCILED_KEY = dg.AssetKey(["warehouse", "bank", "payments_reconciled"])
# The platform's payments (current state), a configured SQL source's projection.
PAYMENTS_KEY = dg.AssetKey(["warehouse", "platform", "payments"])
