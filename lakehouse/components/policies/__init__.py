"""Project-wide policies, built from the whole asset graph: catalog, replication."""
