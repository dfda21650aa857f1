"""Audit the locked dependencies for known vulnerabilities (`make audit`, a step of `make test`).

Runs pip-audit over the lock file (no install: the pins and hashes are read as they are) against PyPI's
vulnerability feed, then OSV's when PyPI's does not answer. Three outcomes, each said in one line:

- no known vulnerability (or only ones listed in the ignore file, each with its reason): exit 0;
- a vulnerability not in the ignore file: each one printed with its fixed versions, exit 1;
- no vulnerability service answered (no network, a registry mirror without the JSON API that answers
  "not found" for every package): "audit des dépendances non fait : ..." and exit 0, so an offline
  machine can still run the tests, but nobody can mistake that for a clean audit.

pip-audit itself says "No known vulnerabilities found" when every package was skipped as unknown to
the service; this script counts the skipped packages instead of trusting that sentence.

The ignore file (default `dependency-audit-ignore.txt` beside the lock) holds one vulnerability a line:
its id (or alias), then the reason it is accepted; `#` starts a comment. An entry without a reason is
refused (exit 2): an ignored vulnerability must say why.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

NOT_RUN = "audit des dépendances non fait : {reason}"
INCOMPLETE = "audit des dépendances incomplet : {count} paquet(s) non audité(s) ({names})"
CLEAN = "audit des dépendances : {count} paquets, aucune vulnérabilité connue ({service})"
IGNORED = "vulnérabilité ignorée : {id} dans {name} {version} ({reason})"
FOUND = "vulnérabilité : {id} dans {name} {version}, corrigée en {fixed}"
FAILED = "audit des dépendances en échec : {count} vulnérabilité(s) connue(s) ({service})"
STALE_IGNORE = "entrée inutile du fichier d'exceptions : {id} (aucun paquet verrouillé ne l'a)"
BAD_IGNORE = "fichier d'exceptions {path}, ligne {line} : il faut l'identifiant puis la raison"
TOOL_ERROR = "pip-audit a échoué ({service}) : {detail}"

SERVICES = ("pypi", "osv")
# What a request that never reached the service raises (pip-audit prints the traceback and exits 1).
NETWORK_ERRORS = (
    "ConnectionError",
    "NameResolutionError",
    "Max retries exceeded",
    "Could not connect",
    "timed out",
    "Timeout",
    "Network is unreachable",
    "Temporary failure in name resolution",
    "SSLError",
)
REQUEST_TIMEOUT_S = 15
RUN_TIMEOUT_S = 600


@dataclass
class Vulnerability:
    """One known vulnerability of one locked package."""

    id: str
    aliases: list[str]
    name: str
    version: str
    fixed: list[str]


@dataclass
class Report:
    """What one service said about the lock."""

    service: str
    audited: int
    skipped: list[str] = field(default_factory=list)
    vulnerabilities: list[Vulnerability] = field(default_factory=list)


class ServiceUnavailable(Exception):
    """No answer from the vulnerability service (the audit did not run)."""


class AuditToolError(Exception):
    """pip-audit failed for another reason than the network: the audit is broken, not skipped."""


def read_ignores(path: Path) -> dict[str, str]:
    """Vulnerability ids accepted on purpose, each with the reason written beside it."""
    ignores: dict[str, str] = {}
    if not path.exists():
        return ignores
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) < 2 or not parts[1].strip():
            raise ValueError(BAD_IGNORE.format(path=path, line=number))
        ignores[parts[0]] = parts[1].strip()
    return ignores


def parse_report(service: str, document: dict[str, object]) -> Report:
    """The audited, skipped and vulnerable packages of pip-audit's JSON output."""
    report = Report(service=service, audited=0)
    dependencies = document.get("dependencies", [])
    assert isinstance(dependencies, list)
    for dependency in dependencies:
        name = str(dependency.get("name"))
        if dependency.get("skip_reason"):
            report.skipped.append(name)
            continue
        report.audited += 1
        for vuln in dependency.get("vulns", []):
            report.vulnerabilities.append(
                Vulnerability(
                    id=str(vuln.get("id")),
                    aliases=[str(a) for a in vuln.get("aliases", [])],
                    name=name,
                    version=str(dependency.get("version")),
                    fixed=[str(v) for v in vuln.get("fix_versions", [])],
                )
            )
    return report


def run_pip_audit(pip_audit: list[str], lock: Path, service: str) -> Report:
    """One pip-audit run over the lock file with one vulnerability service."""
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "audit.json"
        command = [
            *pip_audit,
            "--requirement",
            str(lock),
            "--disable-pip",
            "--vulnerability-service",
            service,
            "--timeout",
            str(REQUEST_TIMEOUT_S),
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(output),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as error:
            raise ServiceUnavailable(f"{service} n'a pas répondu en {RUN_TIMEOUT_S} s") from error
        text = output.read_text(encoding="utf-8") if output.exists() else ""
        if done.returncode in (0, 1) and text.strip():
            return parse_report(service, json.loads(text))
        detail = (done.stderr or done.stdout).strip()
        if any(marker in detail for marker in NETWORK_ERRORS):
            last = detail.splitlines()[-1] if detail else ""
            raise ServiceUnavailable(f"{service} injoignable ({last[:200]})")
        raise AuditToolError(TOOL_ERROR.format(service=service, detail=detail[-500:] or done.returncode))


def audit(pip_audit: list[str], lock: Path, ignores: dict[str, str]) -> int:
    """Print the audit's outcome in one line per finding; the exit status of `make audit`."""
    reasons: list[str] = []
    report: Report | None = None
    for service in SERVICES:
        try:
            candidate = run_pip_audit(pip_audit, lock, service)
        except ServiceUnavailable as error:
            reasons.append(str(error))
            continue
        if candidate.audited == 0:
            reasons.append(
                f"le flux {service} répond « inconnu » pour les {len(candidate.skipped)} paquets verrouillés"
            )
            continue
        report = candidate
        break
    if report is None:
        print(NOT_RUN.format(reason="; ".join(reasons)))
        return 0
    if report.skipped:
        print(INCOMPLETE.format(count=len(report.skipped), names=", ".join(report.skipped)))
    found: list[Vulnerability] = []
    used: set[str] = set()
    for vuln in report.vulnerabilities:
        key = next((k for k in (vuln.id, *vuln.aliases) if k in ignores), None)
        if key is None:
            found.append(vuln)
            continue
        used.add(key)
        print(IGNORED.format(id=vuln.id, name=vuln.name, version=vuln.version, reason=ignores[key]))
    for key in sorted(set(ignores) - used):
        print(STALE_IGNORE.format(id=key))
    for vuln in found:
        fixed = ", ".join(vuln.fixed) or "aucune version"
        print(FOUND.format(id=vuln.id, name=vuln.name, version=vuln.version, fixed=fixed))
    if found:
        print(FAILED.format(count=len(found), service=report.service))
        return 1
    print(CLEAN.format(count=report.audited, service=report.service))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: the lock file, the ignore file, and the pip-audit command (tests replace it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("lock", type=Path, nargs="?", default=Path("requirements.lock"))
    parser.add_argument("--ignore-file", type=Path, default=None)
    parser.add_argument(
        "--pip-audit",
        default=None,
        help="the pip-audit command (default: this interpreter's pip_audit module)",
    )
    args = parser.parse_args(argv)
    ignore_file = args.ignore_file or args.lock.parent / "dependency-audit-ignore.txt"
    try:
        ignores = read_ignores(ignore_file)
    except ValueError as error:
        print(error)
        return 2
    pip_audit = args.pip_audit.split() if args.pip_audit else [sys.executable, "-m", "pip_audit"]
    try:
        return audit(pip_audit, args.lock, ignores)
    except AuditToolError as error:
        print(error)
        return 2


if __name__ == "__main__":
    sys.exit(main())
