"""Sources outside the lake: their clients, schemas and simulators."""
