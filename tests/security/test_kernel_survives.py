"""Every attack payload, sent to one real kernel: refused, and the kernel and its state live on."""

import pytest

from ..kernel.helpers import Kernel
from . import (
    test_attribute_error_obj,
    test_dunder_walks,
    test_except_star,
    test_format_strings,
    test_generator_frames,
    test_guard_name_shadowing,
    test_import_routes,
    test_library_writes,
    test_match_patterns,
    test_metaclass_calls,
    test_module_functions,
    test_module_writes,
    test_tracebacks,
)
from .attack import kernel_refusal

FAMILIES = {
    "generator frames": test_generator_frames.PAYLOADS,
    "format strings": test_format_strings.PAYLOADS,
    "exception objects": test_attribute_error_obj.PAYLOADS,
    "except*": test_except_star.PAYLOADS,
    "guard names": test_guard_name_shadowing.PAYLOADS,
    "dunder walks": test_dunder_walks.PAYLOADS,
    "module writes": test_module_writes.PAYLOADS,
    "import routes": test_import_routes.PAYLOADS,
    "module functions": test_module_functions.PAYLOADS,
    "library writes": test_library_writes.PAYLOADS,
    "match patterns": test_match_patterns.PAYLOADS,
    "metaclass calls": test_metaclass_calls.PAYLOADS,
    "tracebacks": test_tracebacks.PAYLOADS,
}


@pytest.fixture(scope="module")
def kernel(_server_process):
    kernel = Kernel(env={"OPENAI_BASE_URL": _server_process.base_url, "LMULATOR_CACHE": "off"})
    yield kernel
    kernel.close()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_kernel_refuses_each_payload_and_keeps_its_state(kernel, lm, family):
    kernel.run("%mode python")
    kernel.run("kept = [1, 2, 3]")
    for source in FAMILIES[family]:
        ex = kernel.run(source)
        assert ex.status == "error", f"{source!r} ran in the kernel"
        (error,) = ex.of("error")
        assert kernel_refusal(error), f"{source!r} not refused by the policy: {error['evalue']}"
        after = kernel.run("sum(kept)")
        assert after.status == "ok" and after.result == "6", f"kernel broken after {source!r}"
    assert lm.log() == []  # no payload reached the LM in python mode


def _refused(kernel, source):
    ex = kernel.run(source)
    errors = ex.of("error")
    return ex.status == "error" and len(errors) == 1 and kernel_refusal(errors[0]), errors


def test_ipython_names_in_the_namespace_give_no_way_out(kernel, lm):
    kernel.run("%mode python")
    for source in (
        "open('/etc/hostname').read()",  # IPython puts open there; the policy takes it away
        "exit._ip",
        "get_ipython().kernel",
        "get_ipython()._shell",
        "getattr(get_ipython(), '_shell')",
        "get_ipython().system('true')",
        "get_ipython().getoutput('true')",
        "get_ipython().run_line_magic('run', 'x.py')",
        "get_ipython().run_cell_magic('javascript', '', 'alert(1)')",
    ):
        ok, errors = _refused(kernel, source)
        assert ok, (source, errors)
    kernel.run("%policy trusted")
    try:
        assert kernel.run("open is not None").result == "True"  # IPython's open() is back
        denied = kernel.run("open('/etc/hostname').read()")  # and the sandbox still holds
        assert denied.status == "error" and denied.of("error")[0]["ename"] == "PermissionError"
    finally:
        kernel.run("%policy restricted")
    assert kernel.run("open").status == "error"
