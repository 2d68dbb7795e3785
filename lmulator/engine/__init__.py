"""The engine: runs a program statement by statement, asking the LM where it fails.

`session` (the public `Session`), `runtime` (the hooks instrumented code calls), `trace` (what
ran and what the LM supplied), `limits` (time and memory), `errors_display` (the program's own
frames), `instrument/` (the rewrite that makes each statement observable).
"""
