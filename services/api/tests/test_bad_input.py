"""Bad input gets a clear JSON error and leaves nothing behind."""

import httpx
import pytest


@pytest.fixture
def no_side_effect(db, rds):
    yield
    assert db.execute("SELECT count(*) AS n FROM jobs").fetchone()["n"] == 0
    assert rds.exists("conveyor:jobs") == 0


def post_raw(client: httpx.Client, content: bytes) -> httpx.Response:
    return client.post("/api/jobs", content=content, headers={"content-type": "application/json"})


@pytest.mark.usefixtures("no_side_effect")
class TestRefused:
    def test_malformed_json(self, client) -> None:
        response = post_raw(client, b'{"task": "uppercase", "input": ')
        assert response.status_code == 422
        assert response.json()["error"] == {
            "code": "invalid_request",
            "message": "request body is not valid JSON",
            "details": response.json()["error"]["details"],
        }

    @pytest.mark.parametrize(
        "body",
        [
            {"task": 5, "input": "x"},
            {"input": "x"},
            {"task": "uppercase"},
            {"task": "uppercase", "input": "x", "priority": 1},
            ["uppercase", "x"],
        ],
    )
    def test_wrong_shape(self, client, body) -> None:
        response = client.post("/api/jobs", json=body)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_request"

    def test_unknown_task_names_the_known_ones(self, client) -> None:
        response = client.post("/api/jobs", json={"task": "launch", "input": "x"})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "unknown_task"
        assert "uppercase" in error["message"] and "wordcount" in error["message"]
        assert {"uppercase", "wordcount", "sleep"} <= set(error["details"]["known_tasks"])

    @pytest.mark.parametrize(
        ("task", "value"), [("uppercase", 42), ("wordcount", {"text": "x"}), ("sleep", {"seconds": "ten"})]
    )
    def test_wrong_input_type(self, client, task, value) -> None:
        response = client.post("/api/jobs", json={"task": task, "input": value})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_input"

    def test_sleep_over_a_minute(self, client) -> None:
        response = client.post("/api/jobs", json={"task": "sleep", "input": {"seconds": 61}})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["details"][0]["loc"] == ["seconds"]
        assert "less than or equal to 60" in error["details"][0]["msg"]

    def test_body_over_64_kib(self, client) -> None:
        body = b'{"task": "uppercase", "input": "' + b"x" * (64 * 1024) + b'"}'
        response = post_raw(client, body)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"

    def test_chunked_body_over_64_kib(self, client) -> None:
        def chunks():
            yield b'{"task": "uppercase", "input": "'
            for _ in range(80):
                yield b"x" * 1024
            yield b'"}'

        response = client.post("/api/jobs", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413


def test_a_body_just_under_the_limit_is_accepted(client) -> None:
    text = "x" * 60_000
    response = client.post("/api/jobs", json={"task": "uppercase", "input": text})
    assert response.status_code == 202


@pytest.mark.usefixtures("no_side_effect")
class TestNul:
    """PostgreSQL cannot store NUL in jsonb: refused with 422 naming the field
    (it was a text/plain 500)."""

    @pytest.mark.parametrize(
        ("task", "value", "where"),
        [
            ("uppercase", "a\u0000b", "input"),
            ("wordcount", "a\u0000b", "input"),
            ("fail", {"message": "a\u0000b"}, "input.message"),
        ],
    )
    def test_nul_in_the_input(self, client, task, value, where) -> None:
        response = client.post("/api/jobs", json={"task": task, "input": value})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/json"
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["message"] == f"{where}: must not contain the NUL character (\\u0000)"
        assert error["details"][0]["loc"] == where.split(".")[1:]

    def test_nul_in_a_key_or_the_task(self, client) -> None:
        key = client.post("/api/jobs", json={"task": "sleep", "input": {"sec\u0000onds": 1}})
        assert key.status_code == 422 and key.json()["error"]["details"][0]["loc"] == ["sec\u0000onds"]
        task = client.post("/api/jobs", json={"task": "upper\u0000case", "input": "x"})
        assert task.status_code == 422
        assert task.json()["error"]["details"][0]["loc"] == ["body", "task"]


@pytest.mark.usefixtures("no_side_effect")
class TestUnparseable:
    """Bodies that are not UTF-8 JSON get the documented 422 (they got an
    undocumented 400)."""

    @pytest.mark.parametrize(
        "content",
        [
            b'{"task": "uppercase", "input": "\xff\xfe"}',  # not UTF-8
            b'{"task": "uppercase", "input": ' + b"[" * 2000 + b"]" * 2000 + b"}",  # too deep to parse
            b'{"task": "sleep", "input": {"seconds": ' + b"9" * 5000 + b"}}",  # beyond a double
        ],
        ids=["invalid-utf8", "2000-levels", "5000-digits"],
    )
    def test_not_json_we_can_read(self, client, content) -> None:
        response = post_raw(client, content)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_request"
        assert response.json()["error"]["message"] == "request body is not valid JSON"

    def test_a_thousand_levels_of_nesting(self, client) -> None:
        content = b'{"task": "uppercase", "input": ' + b"[" * 1000 + b"]" * 1000 + b"}"
        response = post_raw(client, content)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_input"

    def test_another_charset(self, client) -> None:
        response = client.post(
            "/api/jobs",
            content='{"task": "uppercase", "input": "caf\u00e9"}'.encode("latin-1"),
            headers={"content-type": "application/json; charset=latin-1"},
        )
        assert response.status_code == 422
        assert response.json()["error"] == {
            "code": "invalid_request",
            "message": "request body must be UTF-8 JSON, not charset=latin-1",
        }

    @pytest.mark.parametrize("key", ["", "k" * 201])
    def test_empty_or_over_long_idempotency_key(self, client, key) -> None:
        response = client.post(
            "/api/jobs", json={"task": "uppercase", "input": "x"}, headers={"Idempotency-Key": key}
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["loc"] == ["header", "idempotency-key"]

    @pytest.mark.parametrize("seconds", [0, -1, 3601, "10"])
    def test_timeout_out_of_bounds(self, client, seconds) -> None:
        response = client.post(
            "/api/jobs", json={"task": "uppercase", "input": "x", "timeout_seconds": seconds}
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["loc"] == ["body", "timeout_seconds"]


def test_utf8_charset_and_a_timeout_are_accepted(client) -> None:
    response = client.post(
        "/api/jobs",
        content=b'{"task": "uppercase", "input": "caf\xc3\xa9", "timeout_seconds": 5}',
        headers={"content-type": "application/json; charset=UTF-8"},
    )
    assert response.status_code == 202
    assert response.json()["input"] == "café" and response.json()["timeout_seconds"] == 5
    default = client.post("/api/jobs", json={"task": "sleep", "input": {"seconds": 1}}).json()
    assert default["timeout_seconds"] == 90  # the sleep task's own default
