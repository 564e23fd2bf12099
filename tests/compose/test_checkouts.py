"""`make up` from any clone: each checkout is its own compose project, and a checkout that lost
its .secrets/ while its database volume still exists is stopped at once, with what to do."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.docker import docker

ROOT = Path(__file__).resolve().parents[2]


def clone(target: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)], check=True)
    return target


def make(checkout: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *targets], cwd=checkout, capture_output=True, text=True, timeout=120
    )


def project(checkout: Path) -> str:
    assert make(checkout, ".env").returncode == 0
    (name,) = [line.split("=", 1)[1] for line in (checkout / ".env").read_text().splitlines()]
    return name


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return clone(tmp_path / "conveyor")


def test_two_clones_are_two_compose_projects(tmp_path: Path, checkout: Path) -> None:
    other = clone(tmp_path / "elsewhere" / "conveyor")
    names = {project(checkout), project(other)}
    assert len(names) == 2 and all(n.startswith("conveyor-") for n in names), names
    # The name stays with the checkout: a second `make` does not change it.
    assert project(checkout) in names


def test_up_refuses_new_credentials_for_an_existing_database(checkout: Path) -> None:
    volume = f"{project(checkout)}_postgres-data"
    docker("volume", "create", volume)
    try:
        done = make(checkout, "up")
        assert done.returncode != 0
        assert f"volume {volume} holds a database" in done.stderr and "make clean" in done.stderr
        assert not (checkout / ".secrets" / "postgres_password").exists()
    finally:
        docker("volume", "rm", volume)


def test_a_fresh_checkout_gets_its_credentials(checkout: Path) -> None:
    assert make(checkout, "secrets").returncode == 0
    assert len((checkout / ".secrets" / "postgres_password").read_text().strip()) == 48
