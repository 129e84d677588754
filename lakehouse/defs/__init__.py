"""Dagster definitions only, autoloaded by lakehouse.definitions."""
