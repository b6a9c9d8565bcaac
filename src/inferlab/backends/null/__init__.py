"""Null backend: answers instantly with zeros, to measure the harness overhead."""
