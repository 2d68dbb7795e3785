"""Instrumentation: the rewrite that routes missing names, calls and failing statements to the
runtime, and the loop stop checks."""
