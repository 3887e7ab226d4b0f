"""Analyses of a trained model that are not edits: causal tracing."""
