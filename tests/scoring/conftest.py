"""Scoring tests use the shared tiny CLIP of tests/tiny_models.py."""
