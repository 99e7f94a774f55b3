"""Entrypoints: the ways a process starts (the `timeline` CLI, the ASGI app factory).

The top layer: it may import api/, timeline/, projections/ and domain/; nothing imports it.
"""
