"""Transparency log primitives: signed notes and checkpoints."""
