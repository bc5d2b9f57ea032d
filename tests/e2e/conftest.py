"""The local stack, started once per test session on free ports (``python -m local`` in its own process group)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack import JWT_SECRET, ROOT, LocalStack, StackDidNotStart, free_ports, running_stack

__all__ = ["JWT_SECRET", "ROOT", "LocalStack", "free_ports", "local_stack"]


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    try:
        with running_stack(tmp_path_factory.mktemp("local-stack")) as stack:
            yield stack
    except StackDidNotStart as exc:
        pytest.fail(str(exc))
