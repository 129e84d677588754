"""Google Analytics 4: Data API client (``runReport``, offset paging), the reports' expected
dimensions and metrics, and incremental extraction with a re-pulled lookback window."""
