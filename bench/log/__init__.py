"""Transparency log benchmark: integrated appends per second and proof latency (``python -m bench.log``)."""
