"""Partial code: stand-ins for what a snippet never defined, types fixed by use, LM repairs."""
