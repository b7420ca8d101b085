"""Wake-up keys sent to other replicas fit PostgreSQL's NOTIFY payload limit."""

from calchub.server.services.unit import payloads


def test_few_keys_go_in_one_payload() -> None:
    assert payloads({"calc:1", "terminal"}) == ["calc:1 terminal"]


def test_many_keys_are_split_under_the_limit_and_none_is_lost() -> None:
    keys = {f"calc:{i}" for i in range(5000)}
    chunks = payloads(keys)
    assert len(chunks) > 1
    assert all(len(chunk.encode()) < 8000 for chunk in chunks)
    assert {key for chunk in chunks for key in chunk.split()} == keys
