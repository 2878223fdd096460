"""The LLM provider mesh: presets, adapters, router. ``presets`` is the registry of services."""
