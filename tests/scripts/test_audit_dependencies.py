"""`make audit`'s outcomes, through the script's command line with a stand-in for pip-audit.

The stand-in answers as pip-audit does (a JSON report written to `--output`, exit 1 when a vulnerability
is found, a traceback and exit 1 when the service cannot be reached), per service, so each outcome is
checked without the network: a clean audit, a vulnerability, an accepted one, no service answering.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_dependencies.py"

FAKE = r"""
import json, sys
args = sys.argv[1:]
service = args[args.index("--vulnerability-service") + 1]
output = args[args.index("--output") + 1]
answer = json.loads(open(sys.argv[0] + ".json").read())[service]
if answer == "unreachable":
    print("requests.exceptions.ConnectionError: Max retries exceeded", file=sys.stderr)
    sys.exit(1)
open(output, "w").write(json.dumps({"dependencies": answer}))
sys.exit(1 if any(d.get("vulns") for d in answer) else 0)
"""

CLEAN = [{"name": "fastapi", "version": "0.1", "vulns": []}, {"name": "numpy", "version": "2.0", "vulns": []}]
VULNERABLE = [
    {"name": "fastapi", "version": "0.1", "vulns": []},
    {
        "name": "numpy",
        "version": "2.0",
        "vulns": [{"id": "PYSEC-1", "aliases": ["CVE-1"], "fix_versions": ["2.1"], "description": "x"}],
    },
]
UNKNOWN = [{"name": n, "skip_reason": "Dependency not found on PyPI"} for n in ("fastapi", "numpy")]


def _audit(tmp_path: Path, answers: dict[str, object], ignore: str | None = None) -> tuple[int, str]:
    fake = tmp_path / "fake_pip_audit.py"
    fake.write_text(FAKE)
    Path(f"{fake}.json").write_text(json.dumps(answers))
    lock = tmp_path / "requirements.lock"
    lock.write_text("fastapi==0.1\nnumpy==2.0\n")
    if ignore is not None:
        (tmp_path / "dependency-audit-ignore.txt").write_text(ignore)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(lock), "--pip-audit", f"{sys.executable} {fake}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return done.returncode, done.stdout


def test_a_clean_lock_passes_and_says_so(tmp_path: Path) -> None:
    code, out = _audit(tmp_path, {"pypi": CLEAN, "osv": CLEAN})
    assert code == 0
    assert out.strip() == "audit des dépendances : 2 paquets, aucune vulnérabilité connue (pypi)"


def test_a_vulnerability_fails_the_audit_with_its_fix(tmp_path: Path) -> None:
    code, out = _audit(tmp_path, {"pypi": VULNERABLE, "osv": CLEAN})
    assert code == 1
    assert "vulnérabilité : PYSEC-1 dans numpy 2.0, corrigée en 2.1" in out
    assert "audit des dépendances en échec : 1 vulnérabilité(s) connue(s) (pypi)" in out


def test_an_accepted_vulnerability_passes_with_its_reason(tmp_path: Path) -> None:
    code, out = _audit(tmp_path, {"pypi": VULNERABLE, "osv": CLEAN}, ignore="CVE-1  not reachable here\n")
    assert code == 0
    assert "vulnérabilité ignorée : PYSEC-1 dans numpy 2.0 (not reachable here)" in out


def test_an_accepted_vulnerability_needs_a_reason(tmp_path: Path) -> None:
    code, out = _audit(tmp_path, {"pypi": VULNERABLE, "osv": CLEAN}, ignore="# why\nCVE-1\n")
    assert code == 2
    assert "ligne 2" in out


def test_no_service_answering_is_said_and_does_not_fail(tmp_path: Path) -> None:
    """A feed that knows none of the packages (a mirror without the JSON API) is no clean audit."""
    code, out = _audit(tmp_path, {"pypi": UNKNOWN, "osv": "unreachable"})
    assert code == 0
    assert out.startswith("audit des dépendances non fait : ")
    assert "pypi" in out and "osv injoignable" in out


def test_the_second_service_is_used_when_the_first_does_not_answer(tmp_path: Path) -> None:
    code, out = _audit(tmp_path, {"pypi": "unreachable", "osv": VULNERABLE})
    assert code == 1
    assert "(osv)" in out
