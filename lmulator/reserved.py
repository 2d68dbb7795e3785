"""The names the engine's generated code binds in a program's namespace, which no program may
spell: shared by the rewrite that generates them and the policy that refuses them."""

from __future__ import annotations

#: Every hook, and the names generated code binds around a statement, start with this.
HOOK_PREFIX = "_lm_"
#: The namespace's flag that stops every loop and call once a cell is interrupted or out of time
#: (see :mod:`lmulator.engine.instrument.stops`).
STOP_NAME = "__lmulator_stop__"
