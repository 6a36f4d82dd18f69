"""Configuration: Settings read once from the environment, parsed and validated; no web framework."""
