"""The Lambda package's requirements come from pyproject.toml, not from a second list."""

from __future__ import annotations

from pathlib import Path

from scripts.gen_requirements import requirements

ROOT = Path(__file__).resolve().parents[2]


def test_src_requirements_is_generated_from_pyproject() -> None:
    assert (ROOT / "src" / "requirements.txt").read_text() == requirements(), (
        "src/requirements.txt is stale: run `make requirements`"
    )
