"""The targets the operating-system attack families aim at."""

from collections.abc import Iterator

import pytest

from .os_attack import Target


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """Planted secrets, listeners and a victim process, fresh for each attack file."""
    target = Target(tmp_path_factory.mktemp("box"))
    yield target
    target.close()
