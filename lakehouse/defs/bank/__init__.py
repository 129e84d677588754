"""The bank's daily payments statements: a file drop (``drop/``) and its reconciliation."""
