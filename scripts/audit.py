"""`make audit`: pip-audit on the Lambda lock (src/requirements.txt), run from .venv-audit.

pip-audit asks PyPI's JSON API (``https://pypi.org/pypi/NAME/VERSION/json``) for each
pinned release's known vulnerabilities. Where that API cannot be reached, pip-audit
reports every package as "not found on PyPI", skips it and still says "No known
vulnerabilities found", exiting 0. So this script first asks the API about one release of
the lock itself (and, should that fail, about the pip-audit release running, so that one
release missing from PyPI is not mistaken for an unreachable database): if no answer
carries vulnerability data, it says, in one line, that nothing was audited and exits 0 (a
warning, not a pass). Otherwise pip-audit runs with ``--strict``, so a package it could
not audit fails the audit instead of being skipped.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "src" / "requirements.txt"
DATABASE = "https://pypi.org/pypi/{name}/{version}/json"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.MULTILINE)
TIMEOUT_SECONDS = 15


def first_pin(lock: str) -> tuple[str, str]:
    found = PIN.search(lock)
    if found is None:
        raise SystemExit(
            f"make audit: {LOCK.relative_to(ROOT)} pins nothing: run `make requirements`"
        )
    return found.group(1), found.group(2)


def control() -> str:
    """A release certainly on PyPI (the pip-audit running), to tell an unreachable database
    from one missing release. Releases, as pip-audit asks: a project's own page
    (/pypi/NAME/json) lists only its latest release's vulnerabilities."""
    return DATABASE.format(name="pip-audit", version=metadata.version("pip-audit"))


def unreadable(url: str) -> str | None:
    """Why PyPI's vulnerability data cannot be read at ``url``, or None if it can."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310 - https
            release = json.load(answer)
    except urllib.error.HTTPError as exc:
        return f"{url} answered HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return f"{url}: {reason}"
    except ValueError:
        return f"{url} did not answer JSON"
    if not isinstance(release, dict) or "vulnerabilities" not in release:
        return f"{url} answered without vulnerability data"
    return None


def main() -> int:
    lock = LOCK.relative_to(ROOT)
    name, version = first_pin(LOCK.read_text())
    problem = unreadable(DATABASE.format(name=name, version=version))
    if problem is not None and unreadable(control()) is not None:
        print(
            f"make audit: WARNING: NOT AUDITED: PyPI's vulnerability database is not reachable "
            f"from here ({problem}); {lock} was not checked for known vulnerabilities: run "
            f"`make audit` where pypi.org is reachable",
            file=sys.stderr,
        )
        return 0
    audit = [
        sys.executable, "-m", "pip_audit",
        "--requirement", str(lock),
        "--require-hashes",  # every file must match the lock's hashes (PyPI service)
        "--disable-pip",  # the lock is complete and hashed: no resolution, no pip
        "--strict",  # a package that cannot be audited fails the audit
        "--vulnerability-service", "pypi",
        "--progress-spinner", "off",
        "--timeout", str(TIMEOUT_SECONDS),
    ]  # fmt: skip
    return subprocess.run(audit, cwd=ROOT, check=False).returncode  # noqa: S603 - fixed args


if __name__ == "__main__":
    sys.exit(main())
