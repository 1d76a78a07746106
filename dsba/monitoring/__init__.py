"""Watching served models: prediction log, feedback, reference profiles, drift, performance."""
