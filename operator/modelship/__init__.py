"""modelship: a Kubernetes operator for the whole life of a machine-learning model."""

__version__ = "0.1.0"
