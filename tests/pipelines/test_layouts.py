"""The writers of the national layouts (SYNTHETIC): SIFA as the older CSV export writes it, ERP v3 and DECA
records in their layouts, RNE company objects; read back by the readers, every value they map back is the
simulated one and every key joins the oracle's; the shipped examples join with their documented secret."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from catalog.formats.common import PSEUDONYM_KEY_ENV, Pseudonymiser, headcount_band
from catalog.formats.deca import DECA_FIELDS, read_deca
from catalog.formats.erp import ERP_FIELDS, read_erp
from catalog.formats.rne import read_rne
from catalog.formats.sifa import SIFA_FIELDS, read_sifa
from models.reference import Reference
from models.simulation.apprentices import (
    ApprenticeSimulationParams,
    SimulatedApprentices,
    simulate_apprentices,
)
from models.simulation.chamber import ChamberSimulationParams, SimulatedChamber, simulate_chamber
from pipelines.cli import app
from pipelines.layouts import (
    SIFA_WRAPPED,
    oracle_keys,
    shipped_postal_codes,
    sifa_text,
    write_chamber_national,
    write_national,
)

PSEUDONYMS = Pseudonymiser(b"test-secret-0123456789", "t1")
SHIPPED = Path(__file__).resolve().parents[2] / "data_samples" / "national"
SHIPPED_SECRET = "exemple-de-secret-0123456789"


@pytest.fixture(scope="module")
def sim(reference: Reference) -> SimulatedApprentices:
    params = ApprenticeSimulationParams(n_contracts=500, seed=4)
    return simulate_apprentices(reference, params, shipped_postal_codes())


@pytest.fixture(scope="module")
def written(sim: SimulatedApprentices, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("national")
    write_national(sim, out, PSEUDONYMS)
    return out


@pytest.fixture(scope="module")
def chamber(reference: Reference) -> SimulatedChamber:
    return simulate_chamber(reference, ChamberSimulationParams(n_companies=400, seed=8))


@pytest.fixture(scope="module")
def chamber_files(chamber: SimulatedChamber, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("host")
    write_chamber_national(chamber, out, PSEUDONYMS, seed=8)
    return out


def expected(sim: SimulatedApprentices) -> pd.DataFrame:
    """What the readers should give of each contract, by its oracle key."""
    contracts = sim.contracts[sim.contracts["contract_start"] <= pd.Timestamp(sim.params.extraction_date)]
    learners = sim.learners.set_index("ref").loc[contracts["learner_ref"]].reset_index()
    keys = oracle_keys(
        PSEUDONYMS, learners["nom"], learners["prenom"], learners["birth_date"], contracts["contract_start"]
    )
    return contracts.reset_index(drop=True).assign(
        contract_id=keys.to_numpy(), sex=learners["sex"].to_numpy()
    )


def test_sifa_snapshots_are_the_older_csv_export(sim: SimulatedApprentices, written: Path) -> None:
    years = list(range(sim.params.first_cohort, sim.params.extraction_date.year + 1))
    assert sorted(p.name for p in written.glob("sifa_*.csv")) == [f"sifa_{y}.csv" for y in years]
    raw = (written / "sifa_2021.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8").removeprefix("\ufeff")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert tuple(rows[0]) == SIFA_FIELDS and len(SIFA_FIELDS) == 47
    assert text.split("\n", 1)[0] == ";".join(f'"{f}"' for f in SIFA_FIELDS)
    body = pd.DataFrame(rows[1:], columns=list(SIFA_FIELDS))
    assert len(body) > 100 and all(len(r) == 47 for r in rows)
    for name in SIFA_WRAPPED:
        filled = body[name][body[name] != ""]
        assert filled.str.fullmatch(r'="[^"]*"').all(), name
    assert (body["INE"].str.startswith('="')).all()  # never empty: `=""` when unknown
    unwrapped = body.apply(lambda c: c.str.replace(r'^="(.*)"$', r"\1", regex=True))
    for name in ("DATE_NAIS", "DATE_DEB_CONT"):
        assert unwrapped[name].str.fullmatch(r"(0[1-9]|[12][0-9]|3[01])(0[1-9]|1[0-2])(19|20)[0-9]{2}").all()
    rupture = unwrapped["DATE_RUPT_CONT"][unwrapped["DATE_RUPT_CONT"] != ""]
    assert len(rupture) and rupture.str.fullmatch(r"[0-9]{8}").all()
    assert (
        body["NOM"].str.fullmatch(r"[0-9A-Za-z ]+").all()
        and body["PRENOM1"].str.fullmatch(r"[0-9A-Za-z ]+").all()
    )
    assert body["SEXE"].isin(["1", "2"]).all() and body["HANDI"].isin(["0", "1"]).all()
    assert body["NAF_ETAB"].str.fullmatch(r"[0-9]{4}[A-Z]").all()
    assert body["NBSAL_EMP"].str.fullmatch(r"[0-9]+").all()
    assert (
        (body["STATUT"] == "APP").all()
        and (body["UAI_EPLE"] == "NC").all()
        and (body["NAT_STR_JUR"] == "NC").all()
    )
    assert ((unwrapped["DIPLOME"] == "") == (body["RNCP"] != "")).all()  # RNCP only without a CFD
    # Quoting as json2csv's: strings quoted, numbers bare, a wrapped value as "=""x""".
    second = text.split("\n")[1]
    assert second.startswith('"=""') and ';"APP";' in second


def test_sifa_text_is_formatStringForSIFA() -> None:
    assert sifa_text("Marie-Hélène") == "Marie Helene"
    assert sifa_text("D'Esmaurès") == "DEsmaures"
    assert sifa_text("Noël Loïc Ça") == "Noel Loic Ca"


def test_sifa_reads_back_with_the_oracles_keys_and_values(sim: SimulatedApprentices, written: Path) -> None:
    truth = expected(sim).set_index("contract_id")
    oracle = pd.read_csv(written / "oracle.csv")
    assert oracle["contract_id"].is_unique and set(oracle["contract_id"]) == set(truth.index)
    assert (oracle["synthetic"] == "SYNTHETIC").all()
    assert list(oracle.columns) == [
        "contract_id",
        "oracle_rupture",
        "oracle_definitive",
        "oracle_rupture_full",
        "oracle_definitive_full",
        "synthetic",
    ]
    assert oracle.drop(columns=["contract_id", "synthetic"]).gt(0).all().all()
    learners = sim.learners.set_index("ref")
    for path in sorted(written.glob("sifa_*.csv")):
        read = read_sifa(path.read_bytes(), path.name, PSEUDONYMS)
        assert read.errors == []
        table = read.tables["apprentice_contracts"]
        assert table["contract_id"].isin(oracle["contract_id"]).all()
        if table.empty:
            continue
        known = truth.loc[table["contract_id"]]
        assert (table["age"].to_numpy() == known["age"].to_numpy()).all()
        for column in ("diploma", "siret", "naf_code", "employer_type", "prior_situation", "rqth", "sex"):
            assert (table[column].to_numpy() == known[column].to_numpy()).all(), column
        assert (
            table["theoretical_months"].astype(int).to_numpy() == known["theoretical_months"].to_numpy()
        ).all()
        assert (
            table["employer_headcount"].astype(int).to_numpy() == known["employer_headcount"].to_numpy()
        ).all()
        assert (table["prior_qualification"].to_numpy() == known["prior_qualification"].to_numpy()).all()
        named = set(learners["nom"]) | set(learners["email"]) | set(learners["ine"])
        assert not named & set(table.astype(str).to_numpy().ravel())


def test_the_oracle_knows_the_prior_qualification_from_the_snapshots_read_by_the_prediction_date(
    sim: SimulatedApprentices, written: Path
) -> None:
    """Point in time: a contract's oracle uses the true prior qualification exactly when the SIFA files,
    read back, hold its learner in a snapshot dated on or before its prediction date (start + 6 weeks);
    elsewhere it is marginalised."""
    erp = read_erp((written / "erp.ndjson").read_bytes(), "erp.ndjson", PSEUDONYMS)
    contracts = erp.tables["apprentice_contracts"][["contract_id", "learner_id", "contract_start"]]
    snapshots = pd.concat(
        read_sifa(p.read_bytes(), p.name, PSEUDONYMS).tables["apprentice_contracts"]
        for p in sorted(written.glob("sifa_*.csv"))
    )
    assert snapshots["prior_qualification"].notna().all()
    pairs = contracts.merge(snapshots[["learner_id", "observed_on"]], on="learner_id")
    prediction = pd.to_datetime(pairs["contract_start"]) + pd.Timedelta(weeks=sim.params.prediction_weeks)
    told = set(pairs.loc[(pd.to_datetime(pairs["observed_on"]) <= prediction).to_numpy(), "contract_id"])
    truth = expected(sim)
    flag = truth["ref"].map(sim.oracle.set_index("ref")["qualification_observed"])
    assert set(truth.loc[flag.to_numpy(), "contract_id"]) == told
    assert 0.05 < len(told) / len(truth) < 0.4
    oracle = pd.read_csv(written / "oracle.csv").set_index("contract_id").loc[truth["contract_id"]]
    seen = flag.to_numpy()
    for name in ("oracle_rupture", "oracle_definitive"):
        assert (oracle[name].to_numpy()[seen] == oracle[f"{name}_full"].to_numpy()[seen]).all()
    assert (
        oracle["oracle_rupture"].to_numpy()[~seen] != oracle["oracle_rupture_full"].to_numpy()[~seen]
    ).any()


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_erp_records_in_the_v3_layout_read_back(sim: SimulatedApprentices, written: Path) -> None:
    raw = (written / "erp.ndjson").read_bytes()
    records = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert len(records) == sim.contracts["learner_ref"].nunique()
    required = {
        "nom_apprenant", "prenom_apprenant", "date_de_naissance_apprenant", "id_erp_apprenant",
        "annee_scolaire", "date_inscription_formation", "date_entree_formation", "date_fin_formation",
        "etablissement_responsable_uai", "etablissement_responsable_siret", "etablissement_formateur_uai",
        "etablissement_formateur_siret",
    }  # fmt: skip
    iso = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T00:00:00\.000Z)?")
    for record in records:
        assert set(record) <= set(ERP_FIELDS) and required <= set(record)
        assert isinstance(record["rqth_apprenant"], bool)
        assert iso.fullmatch(record["date_de_naissance_apprenant"]) and iso.fullmatch(
            record["contrat_date_debut"]
        )
        assert re.fullmatch(r"[0-9]{4}-[0-9]{4}", record["annee_scolaire"])
        assert isinstance(record["derniere_situation"], int)
        assert record.get("formation_cfd") or record["formation_rncp"].startswith("RNCP")
    assert any("contrat_date_debut_2" in r for r in records)
    assert any(r["date_de_naissance_apprenant"].endswith("Z") for r in records)
    assert any("cause_rupture_contrat" in r for r in records)
    read = read_erp(raw, "erp.ndjson", PSEUDONYMS)
    table = read.tables["apprentice_contracts"]
    truth = expected(sim).set_index("contract_id")
    assert read.errors == [] and set(table["contract_id"]) == set(truth.index)
    known = truth.loc[table["contract_id"]]
    for column in ("diploma", "siret", "prior_situation", "rqth", "sex"):
        assert (table[column].to_numpy() == known[column].to_numpy()).all(), column
    assert (table["age"].to_numpy() == known["age"].to_numpy()).all()
    assert (
        table["theoretical_months"].astype(int).to_numpy() == known["theoretical_months"].to_numpy()
    ).all()
    as_of = pd.Timestamp(sim.params.extraction_date)
    known_rupture = known["rupture_date"].where(known["rupture_date"] <= as_of)
    got = pd.to_datetime(table["rupture_date"]).dt.strftime("%Y-%m-%d").fillna("")
    assert (got.to_numpy() == known_rupture.dt.strftime("%Y-%m-%d").fillna("").to_numpy()).all()
    assert (
        table["rupture_cause"]
        .dropna()
        .isin(["demission", "licenciement", "commun_accord", "force_majeure", "autre"])
        .all()
    )


def test_deca_records_in_their_layout_read_back(sim: SimulatedApprentices, written: Path) -> None:
    raw = (written / "deca.ndjson").read_bytes()
    records = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    truth = expected(sim).set_index("contract_id")
    assert len(records) == len(truth)
    for record in records:
        flat = _flat(record)
        assert set(flat) <= set(DECA_FIELDS), set(flat) - set(DECA_FIELDS)
        assert record["dispositif"] == "APPR" and record["alternant"]["sexe"] in ("H", "F")
        assert isinstance(record["alternant"]["handicap"], bool) and isinstance(record["type_employeur"], int)
        assert re.fullmatch(r"[0-9]{4}[A-Z]", record["employeur"]["naf"])
        assert re.fullmatch(r"[0-9]{15}", record["no_contrat"])
        assert isinstance(record["employeur"]["nombre_de_salaries"], int)
    read = read_deca(raw, "deca.ndjson", PSEUDONYMS)
    table = read.tables["apprentice_contracts"]
    assert read.errors == [] and set(table["contract_id"]) == set(truth.index)
    known = truth.loc[table["contract_id"]]
    for column in ("siret", "naf_code", "employer_type", "rqth", "sex"):
        assert (table[column].to_numpy() == known[column].to_numpy()).all(), column
    for column in ("theoretical_months", "employer_headcount"):
        assert (table[column].astype(int).to_numpy() == known[column].to_numpy()).all(), column
    assert (table["age"].to_numpy() == known["age"].to_numpy()).all()
    with_cfd = known["diploma"] != "TITRE_PRO"  # a titre professionnel has no CFD in DECA
    assert (table["diploma"].to_numpy()[with_cfd] == known["diploma"].to_numpy()[with_cfd]).all()
    assert (pd.to_datetime(table["planned_end"]).to_numpy() == known["planned_end"].to_numpy()).all()


def test_gzip_over_writes_the_same_bytes_compressed(
    sim: SimulatedApprentices, written: Path, tmp_path: Path
) -> None:
    paths = write_national(sim, tmp_path, PSEUDONYMS, gzip_over=50_000)
    big = [p for p in paths if p.suffix == ".gz"]
    assert big and all(p.stat().st_size < (written / p.stem).stat().st_size for p in big)
    for path in paths:
        plain = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        assert plain == (written / path.name.removesuffix(".gz")).read_bytes()


def test_rne_companies_read_back_as_the_chamber(chamber: SimulatedChamber, chamber_files: Path) -> None:
    raw = (chamber_files / "rne.json").read_bytes()
    companies = json.loads(raw)
    assert isinstance(companies, list) and len(companies) == len(chamber.companies)
    for company in companies:
        formality = company["formality"]
        block_name = "personnePhysique" if formality["formeJuridique"] == "1000" else "personneMorale"
        block = formality["content"][block_name]
        siret = block["etablissementPrincipal"]["descriptionEtablissement"]["siret"]
        assert company["siren"] == formality["siren"] == siret[:9]
        assert re.fullmatch(r"[0-9]{4}[A-Z]", formality["codeAPE"])
        assert re.fullmatch(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}", formality["content"]["natureCreation"]["dateCreation"]
        )
        assert block["registreAnterieur"]["rnm"]["estPresent"] is True
        people = block["identite"].get("entrepreneur") or block["composition"]["pouvoirs"][0]["individu"]
        assert people["descriptionPersonne"]["nom"] and people["adresseDomicile"]["codeInseeCommune"]
    read = read_rne(raw, "rne.json", PSEUDONYMS)
    table = read.tables["companies"].set_index("siret")
    truth = chamber.companies.set_index("siret").loc[table.index]
    assert read.errors == [] and len(table) == len(chamber.companies)
    for column in ("naf_code", "commune_code", "legal_category"):
        assert (table[column] == truth[column]).all(), column
    assert (table["creation_date"] == truth["creation_date"].dt.strftime("%Y-%m-%d")).all()
    employer = truth["headcount_band"] != "NN"
    assert (table.loc[employer, "headcount_band"] == truth.loc[employer, "headcount_band"]).all()
    assert table.loc[~employer, "headcount_band"].isna().all()  # NN: effectifSalarie absent
    assert (headcount_band(pd.Series([0, 2, 5, 9, 19, 49])) == ["00", "01", "02", "03", "11", "12"]).all()
    said = table["head_qualification"].fillna("aucune")
    implied = truth["head_qualification"].replace({"bp_bac_pro": "cap_bep", "superieur": "cap_bep"})
    assert (said == implied).all()


def test_chamber_deca_and_oracle(chamber: SimulatedChamber, chamber_files: Path) -> None:
    read = read_deca((chamber_files / "deca.ndjson").read_bytes(), "deca.ndjson", PSEUDONYMS)
    table = read.tables["apprenticeship_contracts"]
    assert len(table) == len(chamber.contracts)
    truth = chamber.contracts
    assert (table["siret"].to_numpy() == truth["siret"].to_numpy()).all()
    for column in ("contract_start", "planned_end"):
        assert (table[column].to_numpy() == truth[column].dt.strftime("%Y-%m-%d").to_numpy()).all()
    broken = truth["rupture_date"].notna().to_numpy()
    assert (
        table["rupture_date"].to_numpy()[broken]
        == truth["rupture_date"].dt.strftime("%Y-%m-%d").to_numpy()[broken]
    ).all()
    with_cfd = (truth["diploma"] != "TITRE_PRO").to_numpy()
    assert (table["diploma"].to_numpy()[with_cfd] == truth["diploma"].to_numpy()[with_cfd]).all()
    oracle = pd.read_csv(chamber_files / "oracle.csv", dtype={"siret": str})
    assert list(oracle.columns) == ["siret", "cutoff_date", "oracle_probability"]
    assert len(oracle) == len(chamber.company_years)
    assert oracle["siret"].isin(chamber.companies["siret"]).all()
    np.testing.assert_allclose(
        oracle["oracle_probability"], chamber.company_years["oracle_probability"], atol=1e-5
    )


def test_cli_simulate_national_layouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)
    args = [
        "simulate",
        "--model",
        "dropout_risk",
        "--layout",
        "national",
        "--contracts",
        "150",
        "--seed",
        "2",
    ]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and PSEUDONYM_KEY_ENV in result.output
    result = runner.invoke(app, [*args, "--layout", "other", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2 and "--layout" in result.output
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, SHIPPED_SECRET)
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "d"), "--gzip-over", "20"])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC apprentices" in result.output
    assert (tmp_path / "d" / "erp.ndjson.gz").exists() and (tmp_path / "d" / "oracle.csv").exists()
    host = ["simulate", "--model", "apprenticeship_host", "--layout", "national", "--companies", "150"]
    result = runner.invoke(app, [*host, "--years", "2", "--out", str(tmp_path / "h")])
    assert result.exit_code == 0, result.output
    assert {p.name for p in (tmp_path / "h").iterdir()} == {"rne.json", "deca.ndjson", "oracle.csv"}


def test_shipped_examples_join_their_oracle_with_the_documented_secret() -> None:
    pseudonyms = Pseudonymiser(SHIPPED_SECRET.encode())
    folder = SHIPPED / "dropout"
    oracle = pd.read_csv(next(folder.glob("oracle.csv*")))
    raw = gzip.decompress(next(folder.glob("erp.ndjson*")).read_bytes())
    keys = read_erp(raw, "erp", pseudonyms).tables["apprentice_contracts"]["contract_id"]
    assert set(keys) == set(oracle["contract_id"])
    other = read_erp(raw, "erp", Pseudonymiser(b"another-secret-0123456789")).tables["apprentice_contracts"]
    assert not set(other["contract_id"]) & set(oracle["contract_id"])
    assert {p.name for p in (SHIPPED / "host").iterdir()} >= {
        "rne.json.gz",
        "deca.ndjson.gz",
        "oracle.csv.gz",
    }
    total = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert total < 1_600_000
