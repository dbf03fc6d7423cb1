"""The fault suite's protections table (tests/faults/protections/mutations.py) is run by hand
(`make test-protections`), not in CI, so it could rot silently: a refactor moves the text a
mutation replaces and the row can no longer switch its protection off. These checks are fast
and run with every `make test`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.faults.protections.mutations import MUTATIONS, NO_PROTECTION, Mutation
from tests.faults.protections.runner import check_drift

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_every_mutation_applies_once_to_todays_code_and_leaves_it_compiling(mutation: Mutation) -> None:
    assert check_drift([mutation], ROOT) == {}


@pytest.mark.parametrize(
    "node", sorted({n for m in MUTATIONS for n in (*m.fails, *m.passes)} | set(NO_PROTECTION))
)
def test_every_node_id_the_table_names_is_a_test_function_in_its_file(node: str) -> None:
    path, _, name = node.partition("::")
    function = re.sub(r"\[.*\]$", "", name)
    assert (ROOT / path).is_file(), f"{path} is gone"
    assert f"def {function}(" in (ROOT / path).read_text(), f"{function} is not in {path}"
