"""The underwriting team's module: point-in-time features, a risk model, application scores."""
