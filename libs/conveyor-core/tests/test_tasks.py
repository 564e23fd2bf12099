import asyncio

import pytest

from conveyor_core import tasks


def run(name: str, value: object) -> object:
    return asyncio.run(tasks.get(name).run(value))


def test_registry_lists_the_tasks() -> None:
    assert {"uppercase", "wordcount", "sleep", "fail"} <= set(tasks.known())


def test_uppercase() -> None:
    assert run("uppercase", "Hello, wörld") == "HELLO, WÖRLD"


def test_wordcount() -> None:
    result = run("wordcount", "The cat saw the other cat. THE end")
    assert result == {
        "words": 8,
        "chars": 34,
        "top": [("the", 3), ("cat", 2), ("saw", 1), ("other", 1), ("end", 1)],
    }


def test_sleep_waits() -> None:
    assert run("sleep", {"seconds": 0.05}) == {"slept": 0.05}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("uppercase", 42),
        ("uppercase", ["a"]),
        ("wordcount", None),
        ("sleep", {"seconds": 61}),
        ("sleep", {"seconds": -1}),
        ("sleep", {"seconds": "5"}),
        ("sleep", {"seconds": 1, "extra": True}),
        ("sleep", 5),
    ],
)
def test_invalid_inputs_are_refused(name: str, value: object) -> None:
    with pytest.raises(tasks.ValidationError):
        tasks.get(name).validate(value)


def test_fail_raises_its_message() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        run("fail", {"message": "boom"})


def test_a_new_task_is_one_function() -> None:
    @tasks.task
    def reverse(text: str) -> str:
        return text[::-1]

    try:
        assert "reverse" in tasks.known()
        assert run("reverse", "abc") == "cba"
        with pytest.raises(tasks.ValidationError):
            tasks.get("reverse").validate(1)
    finally:
        del tasks.REGISTRY["reverse"]
