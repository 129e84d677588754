"""Machine logs: formats, generator, landing folder, waves (library code, no Dagster)."""
