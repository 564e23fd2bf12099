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
