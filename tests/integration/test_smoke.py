from calchub.client import Client


def test_submit_and_list(client: Client) -> None:
    calc = client.submit(["true"], name="smoke")
    assert calc.state == "queued"
    assert [c.id for c in client.list()] == [calc.id]
