"""The model registry: names and references, immutable versions, aliases."""
