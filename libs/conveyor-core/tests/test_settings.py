import pytest

from conveyor_core import settings
from conveyor_core.settings import CommonSettings


@pytest.fixture(autouse=True)
def bare_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "POSTGRES_HOST",
        "POSTGRES_PORT",
        "POSTGRES_PASSWORD",
        "POSTGRES_PASSWORD_FILE",
        "REDIS_URL",
        "REDIS_PASSWORD",
        "REDIS_PASSWORD_FILE",
        "LOG_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)


def load_error(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        settings.load(CommonSettings)
    assert stop.value.code == 2
    return capsys.readouterr().err


def test_defaults_with_only_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_PASSWORD", "pw")
    config = settings.load(CommonSettings)
    assert (config.postgres_host, config.postgres_port, config.redis_url) == (
        "postgres",
        5432,
        "redis://redis:6379/0",
    )
    assert config.redis_password is None


def test_missing_password_is_named_with_its_file_form(capsys: pytest.CaptureFixture[str]) -> None:
    err = load_error(capsys)
    assert "POSTGRES_PASSWORD: required but not set (or POSTGRES_PASSWORD_FILE)" in err


def test_every_bad_value_gets_its_own_line(monkeypatch, capsys) -> None:
    monkeypatch.setenv("POSTGRES_PASSWORD", "pw")
    monkeypatch.setenv("POSTGRES_PORT", "eighty")
    monkeypatch.setenv("REDIS_URL", "http://nope")
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    err = load_error(capsys)
    assert "POSTGRES_PORT: Input should be a valid integer" in err and "'eighty'" in err
    assert "REDIS_URL:" in err and "redis://" in err
    assert "LOG_LEVEL: Value error, must be one of DEBUG" in err


def test_secret_values_are_never_echoed(monkeypatch, capsys) -> None:
    monkeypatch.setenv("POSTGRES_PASSWORD", "x" * 5000)
    monkeypatch.setenv("POSTGRES_PORT", "0")
    monkeypatch.setenv("REDIS_PASSWORD", "s3cret")
    err = load_error(capsys)
    assert "POSTGRES_PORT" in err and "s3cret" not in err and "xxxx" not in err


def test_secret_from_file(monkeypatch, tmp_path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("POSTGRES_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(secret))
    config = settings.load(CommonSettings)
    assert config.postgres_password.get_secret_value() == "from-a-file"
    assert config.redis_password.get_secret_value() == "from-a-file"


def test_secret_file_unreadable(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("POSTGRES_PASSWORD_FILE", str(tmp_path / "missing"))
    err = load_error(capsys)
    assert "POSTGRES_PASSWORD_FILE: cannot read" in err and "missing" in err


def test_value_and_file_together_is_ambiguous(monkeypatch, tmp_path, capsys) -> None:
    secret = tmp_path / "pw"
    secret.write_text("a")
    monkeypatch.setenv("POSTGRES_PASSWORD", "b")
    monkeypatch.setenv("POSTGRES_PASSWORD_FILE", str(secret))
    assert "POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are both set" in load_error(capsys)
