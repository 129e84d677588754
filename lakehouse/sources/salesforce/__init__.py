"""Salesforce: REST API client (SOQL, ``nextRecordsUrl`` paging), the objects' expected
schemas, incremental extraction on ``SystemModstamp``, and company matching keys."""
