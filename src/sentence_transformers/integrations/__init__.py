"""Integrations with data-processing engines; each module imports its engine only when used (``integrations.ray``)."""
