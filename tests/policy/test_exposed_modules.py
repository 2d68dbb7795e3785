"""Every allowed module is exposed name by name: the declared names, and nothing else."""

import importlib

import pytest

from lmulator.policy.exposed_modules import LISTED, WITHHELD, declared_names
from lmulator.policy.policy import DEFAULT_ALLOWED_MODULES

from .helpers import run, value


@pytest.mark.parametrize("name", DEFAULT_ALLOWED_MODULES)
def test_each_allowed_module_has_a_declaration(name):
    module = importlib.import_module(name)
    declared = declared_names(name, module)
    assert declared is not None, f"{name} is allowed but declares nothing"
    names = value(f"import {name}\nsorted(n for n in dir({name}) if not n.startswith('_'))")
    submodules = {m.split(".")[-1] for m in DEFAULT_ALLOWED_MODULES if m.startswith(name + ".")}
    exposed = set(names) - submodules
    assert exposed <= declared, f"{name} exposes undeclared {sorted(exposed - declared)}"
    missing = {n for n in declared if n in vars(module) and not n.startswith("_")} - exposed
    assert not missing, f"{name} declares {sorted(missing)} but does not expose them"


def test_modules_without_all_are_listed_explicitly():
    for name in DEFAULT_ALLOWED_MODULES:
        if getattr(importlib.import_module(name), "__all__", None) is None:
            assert name in LISTED, name


@pytest.mark.parametrize(
    ("module", "name"),
    [("uuid", "getnode"), ("uuid", "uuid1"), ("base64", "main"), ("copy", "dispatch_table")]
    + [
        (m, n)
        for m, names in WITHHELD.items()
        for n in sorted(names)
        if hasattr(importlib.import_module(m), n)
    ],
)
def test_withheld_names_are_absent_with_a_clear_error(module, name):
    err = run(f"import {module}\n{module}.{name}").error
    assert isinstance(err, AttributeError)
    assert "declared names only" in str(err)


def test_the_names_ordinary_programs_use_are_there():
    assert value(
        "import math, itertools, random, time, uuid, decimal, re, calendar\n"
        "random.seed(3)\nr = random.randint(1, 6)\n"
        "(math.isqrt(17), list(itertools.pairwise('abc'))[0], 1 <= r <= 6,\n"
        " time.monotonic() > 0, uuid.uuid4().version, str(decimal.Decimal('1.10')),\n"
        " re.split(r',', 'a,b'), calendar.isleap(2024))"
    ) == (4, ("a", "b"), True, True, 4, "1.10", ["a", "b"], True)
