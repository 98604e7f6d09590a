"""Every output file of a fixed set of runs is byte-identical to ``tests/golden/`` (volatile
columns aside): a refactor that moves a number fails here. See ``tests/golden_runs.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden_runs import GOLDEN, ROOT, normalized, produce


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("golden")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        produce(out)
    return out


def test_same_files(produced: Path) -> None:
    made = sorted(str(p.relative_to(produced)) for p in produced.rglob("*") if p.is_file())
    kept = sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*") if p.is_file())
    assert made == kept


@pytest.mark.parametrize("name", sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*")
                                        if p.is_file()))
def test_byte_identical(produced: Path, name: str) -> None:
    assert normalized(produced / name) == (GOLDEN / name).read_bytes(), name
