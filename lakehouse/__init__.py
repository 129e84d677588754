"""lakehouse: a cloud-agnostic, data-driven lakehouse on Dagster."""
