"""The README stays true: every make target it names exists and has help, and
every file it links to is there. (Its shell examples run in tests/compose.)"""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def help_targets() -> set[str]:
    out = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {re.sub(r"\x1b\[[0-9;]*m", "", line).split()[0] for line in out.splitlines() if line.strip()}


def test_every_make_target_in_the_readme_exists() -> None:
    named = set(re.findall(r"`make ([a-z][a-z0-9-]*)", README)) | set(
        re.findall(r"^make ([a-z][a-z0-9-]*)", README, re.MULTILINE)
    )
    assert {"up", "test", "lint", "bench", "demo", "e2e"} <= named
    missing = named - help_targets() - {"help"}
    assert not missing, f"the README names make targets that `make help` does not list: {sorted(missing)}"


def test_the_everyday_targets_have_help() -> None:
    assert {"up", "down", "logs", "test", "lint", "bench", "clean"} <= help_targets()


def test_every_relative_link_points_at_a_file() -> None:
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README)
    assert links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"broken links in the README: {missing}"
