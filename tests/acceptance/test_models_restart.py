"""Models and the server's life: a clean stop ends them, a server killed and started again
ends what it left and runs the wanted models again, with the same name and a new process."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.acceptance.conftest import Site, eventually, pid_alive

MODEL = Path(__file__).parents[1] / "data" / "models" / "linear"


def test_a_model_outlives_no_server_and_comes_back_with_it(running: Site) -> None:
    registered = running.cli("model", "register", str(MODEL), "--start")
    assert registered.returncode == 0, registered.stdout + registered.stderr
    client = running.client()
    first = int(client.model("linear").pid or 0)
    assert pid_alive(first)

    running.stop_server(signal.SIGKILL)  # no chance to stop its models
    assert pid_alive(first)
    running.start_server()
    again = eventually(
        lambda: (m := client.model("linear")).state == "healthy" and m.pid != str(first) and m,
        30,
        "the model started again by the new server",
    )
    assert not pid_alive(first), "the killed server's model process is still running"
    assert client.predict("linear", {"instances": [[4]]}) == {"predictions": [9.0]}

    running.stop_server(signal.SIGTERM)
    eventually(lambda: not pid_alive(int(again.pid or 0)), 15, "the model to stop with its server")
