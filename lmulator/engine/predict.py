"""What a call returns, asked of the LM with the function's code in view and never run.

The question goes the way a call of a stub does (:meth:`.emulation.Emulation.value` with the
definition): the same request, prompts, reply schema, reply parser and trace record, marked in
the listing as any emulation is. Only Python's part is left out: the definition is not executed
and the call is not evaluated, so the value is the LM's reading of the code. Benchmarks of the
emulator on code nobody here wrote (CRUXEval-O) use it.
"""

from __future__ import annotations

import ast
import itertools
from typing import TYPE_CHECKING

from ..errors import EmulationAbort
from .instrument.sites import Site
from .trace import RunResult

if TYPE_CHECKING:
    from .session import Session

_counter = itertools.count(1)


def function_name(definition: str) -> str:
    """The name of the first function ``definition`` defines; ValueError if it defines none."""
    try:
        tree = ast.parse(definition)
    except SyntaxError as exc:
        raise ValueError(f"the definition does not parse: {exc.msg}") from None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node.name
    raise ValueError("the definition defines no function")


def predict_call(session: Session, definition: str, call: str) -> RunResult:
    """The LM's value for ``call`` as the function in ``definition`` would return it, as a
    one-line cell ``call`` whose trace holds the emulation (its confidence too); an LM that
    gives no usable answer (or one less sure than ``min_confidence``) is the result's error."""
    name = f"<predict-{next(_counter)}>"
    source = call.strip()
    result = RunResult(source=source, name=name)
    rec = session.recorder
    rec.trace = result.trace
    rec.masked = result.masked
    rec.current_cell = name
    rec.cells[name] = source
    site = Site(
        id=next(rec.ids),
        kind="stub",
        line=1,
        source=source,
        name=function_name(definition),
        stub_source=definition,
        top_level=True,
        cell=name,
    )
    rec.sites[site.id] = site
    try:
        result.value = session.emulation.value(
            site, source, memo=("stub", definition, source), definition=True
        )
        result.has_value = True
        result.value_origin = "emulated"
    except EmulationAbort as abort:
        result.error = abort.error
    session.history.append(result)
    return result
