"""The marketing team's module: where the platform's applications come from."""
