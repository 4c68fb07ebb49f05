"""The MLflow model registry: registration, the pyfunc model, gated promotion and rollback."""
