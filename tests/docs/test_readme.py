"""The docs stay true: every make target the README names exists and has help, every
target any doc names exists, and every file they link to is there. (The README's shell
examples run in tests/compose.)"""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
GIT_MD = ["git", "ls-files", "*.md"]
DOCS = [
    Path(p)
    for p in subprocess.run(GIT_MD, cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
]


def help_targets() -> set[str]:
    out = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {re.sub(r"\x1b\[[0-9;]*m", "", line).split()[0] for line in out.splitlines() if line.strip()}


def test_every_make_target_in_the_readme_exists() -> None:
    named = named_targets(README)
    assert {"up", "test", "lint", "bench", "demo", "e2e"} <= named
    missing = named - help_targets() - {"help"}
    assert not missing, f"the README names make targets that `make help` does not list: {sorted(missing)}"


def test_the_everyday_targets_have_help() -> None:
    assert {"up", "down", "logs", "test", "lint", "bench", "clean"} <= help_targets()


def named_targets(text: str) -> set[str]:
    return set(re.findall(r"`make ([a-z][a-z0-9-]*)", text)) | set(
        re.findall(r"^make ([a-z][a-z0-9-]*)", text, re.MULTILINE)
    )


def test_every_make_target_in_any_doc_exists() -> None:
    defined = set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    missing = {
        f"{doc}: make {target}"
        for doc in DOCS
        for target in named_targets((ROOT / doc).read_text()) - defined - {"help"}
    }
    assert not missing, f"docs name make targets the Makefile does not have: {sorted(missing)}"


def test_every_relative_link_points_at_a_file() -> None:
    assert len(DOCS) > 5 and Path("README.md") in DOCS
    missing = []
    for doc in DOCS:
        for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", (ROOT / doc).read_text()):
            if not (ROOT / doc.parent / link).exists():
                missing.append(f"{doc}: {link}")
    assert not missing, f"broken links: {missing}"
