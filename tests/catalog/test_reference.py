"""The catalog's readers of the reference files: what each returns, read once per process, and the package's
boundaries (the catalog imports only `models/`, `models/` reads no file)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd
import pytest

import catalog.reference as catalog_reference
from catalog.reference import (
    REFERENCE_DIR,
    load_commune_stats,
    load_passage,
    load_postal_codes,
    load_reference,
    load_territory,
)
from models.reference import Reference

ROOT = Path(__file__).resolve().parents[2]


def test_reference_is_read_once_per_process() -> None:
    assert load_reference() is load_reference()
    assert load_reference(REFERENCE_DIR) is load_reference()
    assert "96.02A" in load_reference().naf_codes and "69384" in load_reference().commune_codes


def test_the_pipelines_name_is_the_catalogs() -> None:
    from pipelines.reference import REFERENCE_DIR as PIPELINES_DIR
    from pipelines.reference import load_reference as pipelines_load

    assert pipelines_load is load_reference and PIPELINES_DIR == REFERENCE_DIR


def test_each_file_is_read_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A reader asked twice for the same folder reads its file once (a copy of the folder: a fresh cache)."""
    for name in ("communes_cog2026.csv.gz", "naf_rev2_sous_classes.csv", "communes_passage_2026.csv.gz"):
        (tmp_path / name).write_bytes((REFERENCE_DIR / name).read_bytes())
    reads: list[str] = []
    real = catalog_reference._read_table

    def counting(path: Path) -> pd.DataFrame:
        reads.append(path.name)
        return real(path)

    monkeypatch.setattr(catalog_reference, "_read_table", counting)
    assert load_passage(tmp_path) is load_passage(tmp_path)
    assert load_reference(tmp_path) is load_reference(tmp_path)
    assert sorted(reads) == sorted(
        ["communes_passage_2026.csv.gz", "communes_cog2026.csv.gz", "naf_rev2_sous_classes.csv"]
    )


def test_passage_and_stats_are_texts() -> None:
    passage = load_passage()
    assert {"code_insee", "code_insee_2026"} <= set(passage.columns)
    assert passage["code_insee"].iloc[0] == "01001", "codes keep their leading zeros"
    assert "commune_code" in load_commune_stats().columns


def test_postal_codes_point_to_current_communes() -> None:
    codes = load_postal_codes()
    assert list(codes.columns) == ["code_postal", "code_insee", "nom_commune"]
    assert set(codes["code_insee"]) <= load_reference().commune_codes, "brought to COG 2026"
    assert "33063" in set(codes.loc[codes["code_postal"] == "33000", "code_insee"])
    assert not codes.duplicated(["code_postal", "code_insee"]).any()
    assert load_postal_codes() is codes


def test_territory_is_built_once_for_the_shipped_reference(reference: Reference) -> None:
    territory = load_territory()
    assert load_territory(load_reference()) is territory and load_territory(reference) is territory
    assert "69384" in territory.codes and {10, 20} <= set(territory.within)


def test_territory_of_another_reference_is_built_afresh() -> None:
    shipped = load_reference()
    lyon = shipped.communes[shipped.communes["departement_code"] == "69"]
    other = Reference(lyon, shipped.naf, shipped.former_communes)
    territory = load_territory(other)
    assert territory is not load_territory()
    assert set(territory.codes) <= set(lyon["commune_code"]) and "33063" not in territory.codes


def _imports(folder: Path) -> set[str]:
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_catalog_imports_models_never_pipelines_or_service() -> None:
    assert not {"pipelines", "service"} & _imports(ROOT / "catalog")
    assert "catalog" in _imports(ROOT / "service") and "pipelines" not in _imports(ROOT / "service")


def test_models_read_no_file() -> None:
    calls = re.compile(r"open\(|read_csv\(|read_parquet\(|np\.load\(|gzip\.open\(|to_csv\(|to_parquet\(")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "models").rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if calls.search(line)
    ]
    assert offenders == []
