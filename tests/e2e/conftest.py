"""The e2e tier reuses the integration tier's fixtures (cluster, S3, operator)."""

from tests.integration.conftest import operating, tiny_saved_model, world

__all__ = ["operating", "tiny_saved_model", "world"]
