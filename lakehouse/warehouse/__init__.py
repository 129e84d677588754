"""Pure transformations used by warehouse assets: SQL and parsing, testable without Dagster."""
