"""The MLflow model registry: registration, the pyfunc model, gated promotion and rollback."""

CHALLENGER, CHAMPION = "challenger", "champion"  # the registered model's aliases
