"""The new-calculation form over real HTTP: the live preview, problems by their field, analyses
that need others, and copies of a calculation with its uploaded files."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from calchub.client import Client
from calchub.server.settings import Settings
from calchub.testing import ServerThread
from tests.integration.helpers import PAGE_PASSWORD

PASSWORD = PAGE_PASSWORD
DATA = Path(__file__).parents[1] / "data" / "bumps"
#: A type whose ``plot`` analysis needs its ``stats`` analysis.
MEASURE = """\
name: measure
version: "1"
inputs:
  type: object
  additionalProperties: false
  properties:
    points: {type: integer, minimum: 2, default: 5, description: how many points}
files:
  run.sh: |
    echo "Step Value"; for i in $(seq 1 {{ points }}); do echo "$i $i"; done
command: [bash, run.sh]
extract:
  - table: {name: curve, file: stdout, header: Step}
analyses:
  - {name: stats, needs: [curve], stats: {table: curve, columns: [Value]}}
  - {name: plot, needs: [curve, stats], plot: {table: curve, x: Step, y: [Value], name: curve}}
"""
PARTITIONS = [
    {
        "name": "debug",
        "state": "up",
        "default": True,
        "cpus_total": 8,
        "cpus_idle": 6,
        "time_limit": "1:00:00",
    },
    {"name": "long", "state": "up", "cpus_total": 64, "cpus_idle": 64, "time_limit": "7-00:00:00"},
    {"name": "gpu", "state": "up", "cpus_total": 16, "gpus_total": 4, "gpus_idle": 4},
]


@pytest.fixture
def server(settings: Settings, made: Any) -> Iterator[ServerThread]:
    """The server, with the ``measure`` type in its home (types are found when it starts)."""
    folder = settings.home / "calctypes"
    folder.mkdir(parents=True)
    (folder / "measure.yaml").write_text(MEASURE)
    with ServerThread(settings) as running:
        yield running


@pytest.fixture
def users(make_user: Callable[..., Client]) -> dict[str, Client]:
    """Two users, each as an API client of their own."""
    return {name: make_user(name, password=PASSWORD) for name in ("alice", "eve")}


@pytest.fixture
def browser(
    browser: Callable[[str], httpx.Client], users: dict[str, Client]
) -> Callable[[str], httpx.Client]:
    """The shared sign-in, with the two users made first."""
    return browser


@pytest.fixture
def hpc(client: Client, server: ServerThread) -> str:
    """A Slurm cluster whose admin opened two of its three partitions, with a heartbeat's partition table."""
    slurm = {"partitions": ["debug", "long"], "default_partition": "debug", "setup": ["module load tools"]}
    client.register_cluster("hpc", "a Slurm cluster", executor="slurm", slurm=slurm)
    key = client.issue_agent_key("hpc").key
    beat = {"agent": "login1", "version": "0", "host": "login1", "executor": "slurm", "cores": 64}
    beat |= {"running": 0, "root": "/scratch/calchub", "partitions": PARTITIONS}
    answer = httpx.post(
        f"{server.url}/api/v1/agent/heartbeat", json=beat, headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200, answer.text
    return "hpc"


def _slot(page: str, control: str) -> str:
    """The text of the problem slot beside ``control``."""
    found = re.search(rf'<p class="error field-error" id="err-{control}">(.*?)</p>', page, re.S)
    assert found, f"no problem slot for {control}"
    return html.unescape(found.group(1))


def _invalid(page: str, control: str) -> bool:
    tag = re.search(rf'<(?:input|select|textarea)[^>]*\bid="{control}"[^>]*>', page, re.S)
    assert tag, f"no control {control}"
    return 'aria-invalid="true"' in tag.group(0) and f"err-{control}" in tag.group(0)


def _script(page: str) -> str:
    found = re.search(r'<pre class="script" id="script">(.*?)</pre>', page, re.S)
    assert found, "no script in the preview"
    return html.unescape(found.group(1))


def _stored(settings: Settings) -> list[Path]:
    return [p for p in settings.resolved_storage_dir().rglob("*") if p.is_file()]


SHELL = {"type": "shell", "inputs.script": "echo hello", "project": "~alice"}


def test_the_preview_shows_the_sbatch_script_of_a_slurm_cluster_and_writes_nothing(
    browser: Callable[[str], httpx.Client], client: Client, hpc: str, settings: Settings
) -> None:
    alice = browser("alice")
    form = alice.get("/calculations/new?type=shell&cluster=hpc").text
    assert '<select id="partition" name="resources.partition"' in form
    assert "debug (6 of 8 CPUs idle, time limit 1:00:00, up, default)" in form
    assert ">long (64 of 64 CPUs idle, time limit 7-00:00:00, up)<" in form
    assert 'value="gpu"' not in form, "the admin did not open gpu to users"

    swapped = alice.get("/calculations/new/resources", params={"cluster": "local", "type": "shell"})
    assert swapped.headers["HX-Trigger-After-Settle"] == "new-resources"
    assert "<html" not in swapped.text and 'id="walltime"' in swapped.text
    assert 'id="partition"' not in swapped.text, "a local cluster has no partitions"

    chosen = SHELL | {"inputs.script": "echo hi", "cluster": hpc, "analyses-shown": "1"}
    chosen |= {"resources.cores": "4", "resources.walltime": "2:00:00", "resources.partition": "long"}
    preview = alice.post("/calculations/new/preview", data=chosen)
    assert preview.status_code == 200 and "<html" not in preview.text
    script = _script(preview.text)
    assert script.startswith("#!/bin/bash\n")
    for line in ("#SBATCH --cpus-per-task=4", "#SBATCH --time=02:00:00", "#SBATCH --partition=long"):
        assert line in script.splitlines(), line
    assert "module load tools" in script and "cd /scratch/calchub/0-1 || exit 97" in script
    assert "bash run.sh" in script and "<code>run.sh</code>" in preview.text
    resources = {"cores": 4, "walltime": "2:00:00", "partition": "long"}
    same = client.preview(
        type="shell", name="shell", inputs={"script": "echo hi"}, cluster=hpc, resources=resources
    )
    assert same.script == script, "the page shows what the API shows"

    closed = alice.post("/calculations/new/preview", data=chosen | {"resources.partition": "gpu"}).text
    assert 'data-for="partition"' in closed
    assert "offers partitions debug, long, not &#39;gpu&#39;" in closed

    local = alice.post("/calculations/new/preview", data=SHELL | {"cluster": "local"}).text
    assert '<h2 id="preview-title">Command</h2>' in local and "bash run.sh" in local

    refused = alice.post("/calculations/new", data=chosen | {"resources.partition": "gpu"})
    assert refused.status_code == 422
    assert "not 'gpu'" in _slot(refused.text, "partition") and _invalid(refused.text, "partition")
    assert client.list() == [] and _stored(settings) == [], "neither previews nor refusals write anything"


def test_each_problem_lands_on_its_field_and_the_summary_links_to_it(
    browser: Callable[[str], httpx.Client], client: Client
) -> None:
    alice = browser("alice")
    bad = SHELL | {"cluster": "local", "resources.walltime": "soon", "resources.cores": "0", "priority": "x"}
    page = alice.post("/calculations/new", data=bad).text
    assert "is not seconds or [D-][HH:]MM:SS" in _slot(page, "walltime") and _invalid(page, "walltime")
    assert "greater than or equal to 1" in _slot(page, "cores") and _invalid(page, "cores")
    assert "valid integer" in _slot(page, "priority") and _invalid(page, "priority")
    assert '<a href="#walltime">Walltime</a>' in page and '<a href="#priority">Priority</a>' in page
    assert not _invalid(page, "name") and _slot(page, "name") == ""

    cases = [
        ({"priority": "500"}, "priority", "allows priorities -100 to 100, not 500"),
        ({"project": "nowhere"}, "project", "no project named 'nowhere' that you belong to"),
        ({"cluster": "nowhere"}, "cluster", "no cluster named 'nowhere'"),
        ({"notify": "pi@lab.example.org, not an address"}, "notify", "should match pattern"),
    ]
    for change, control, message in cases:
        answer = alice.post("/calculations/new", data=SHELL | {"cluster": "local"} | change)
        assert answer.status_code in (404, 422), answer.status_code
        assert message in _slot(answer.text, control) and _invalid(answer.text, control), control
        assert f'<a href="#{control}">' in answer.text

    typed = {"type": "bumps", "project": "~alice", "inputs.fit": "lm", "inputs.seed": "-1"}
    typed |= {"inputs.options": '{"xtol": 2}', "analyses-shown": "1"}
    page = alice.post("/calculations/new", data=typed).text
    assert "-1 is less than the minimum of 0" in _slot(page, "in-seed") and _invalid(page, "in-seed")
    assert "2 is greater than the maximum of 1" in _slot(page, "in-options"), "nested: on its object"
    assert "upload 'model.py' is required" in _slot(page, "up-1") and _invalid(page, "up-1")
    live = alice.post("/calculations/new/preview", data=typed).text
    assert {"in-seed", "in-options", "up-1"} <= set(re.findall(r'data-for="([^"]+)"', live))
    # The type's own rules run on inputs that pass the schema.
    dream_only = typed | {"inputs.seed": "1", "inputs.options": "{}", "analyses": "distributions"}
    page = alice.post(
        "/calculations/new", data=dream_only, files={"upload:model.py": ("m.py", b"x = 1\n")}
    ).text
    assert "only the dream fitter" in _slot(page, "analyses") and _slot(page, "in-seed") == ""
    assert client.list() == []


def test_an_analysis_that_needs_another_is_ticked_with_it_and_asked_for_by_the_server(
    browser: Callable[[str], httpx.Client], client: Client
) -> None:
    alice = browser("alice")
    form = alice.get("/calculations/new?type=measure").text
    assert 'id="an-plot" name="analyses" value="plot" data-needs="stats"' in form
    assert 'id="an-stats" name="analyses" value="stats" data-needs=""' in form
    assert "needs the analysis stats, which is ticked with it" in form

    base = {"type": "measure", "project": "~alice", "analyses-shown": "1"}
    live = alice.post("/calculations/new/preview", data=base | {"analyses": "plot"}).text
    assert 'data-for="analyses"' in live and "needs analysis &#39;stats&#39;; select it too" in live
    refused = alice.post("/calculations/new", data=base | {"analyses": "plot"})
    assert refused.status_code == 422 and "select it too" in _slot(refused.text, "analyses")
    assert client.list() == []

    both = alice.post("/calculations/new", data=base | {"analyses": ["stats", "plot"]})
    none = alice.post("/calculations/new", data=base | {"name": "no analyses"})
    assert both.status_code == none.status_code == 303
    made = {c.name: c.analyses for c in client.list()}
    assert made == {"measure": ["stats", "plot"], "no analyses": []}, "an empty choice is not the defaults"


def test_a_copy_is_filled_in_from_the_original_and_keeps_its_uploaded_files(
    browser: Callable[[str], httpx.Client], users: dict[str, Client]
) -> None:
    alice, eve = browser("alice"), browser("eve")
    mine = users["alice"]
    original = mine.submit(
        type="bumps",
        name="line fit",
        inputs={"fit": "amoeba", "seed": 7, "keep_chains": True},
        analyses=["fit_plot"],
        resources={"cores": 2, "walltime": 5400, "memory": "2G"},
        files={"model.py": DATA / "model.py", "line.dat": DATA / "line.dat"},
    )
    page = alice.get(f"/calculations/new?from={original.id}").text
    assert 'value="copy of line fit"' in page and f'name="from" value="{original.id}"' in page
    assert '<option value="amoeba" selected>' in page and 'name="inputs.seed" value="7"' in page
    assert re.search(r'id="in-keep_chains"[^>]*checked', page)
    assert 'value="1:30:00"' in page and 'value="2G"' in page and 'name="resources.cores" value="2"' in page
    assert re.search(r'id="an-fit_plot"[^>]*checked', page) and not re.search(
        r'id="an-distributions"[^>]*checked', page
    )
    for path in ("model.py", "line.dat"):
        assert f"Keep the original's {path}" in page and f'name="keep" value="{path}" checked' in page
    assert "Command</h2>" in page and "--fit=amoeba" in page, "the preview counts the kept files"
    assert eve.get(f"/calculations/new?from={original.id}").status_code == 404

    again = {
        "type": "bumps", "from": str(original.id), "name": "copy of line fit", "project": "~alice",
        "cluster": "local", "inputs.fit": "amoeba", "inputs.seed": "7", "analyses-shown": "1",
    }  # fmt: skip
    kept = again | {"offered": ["model.py", "line.dat"], "keep": ["model.py", "line.dat"]}
    new_model = {"upload:model.py": ("model.py", b"# a new model\n")}
    copied = alice.post("/calculations/new", data=kept)
    replaced = alice.post("/calculations/new", data=kept, files=new_model)
    assert copied.status_code == replaced.status_code == 303
    sums = {c.id: {f.path: f.sha256 for f in mine.files(c.id)} for c in mine.list()}
    copy_id, replaced_id = (int(a.headers["location"].rsplit("/", 1)[1]) for a in (copied, replaced))
    assert sums[copy_id] == sums[original.id], "the same files, byte for byte"
    assert sums[replaced_id]["line.dat"] == sums[original.id]["line.dat"]
    assert sums[replaced_id]["model.py"] != sums[original.id]["model.py"]

    stolen = eve.post("/calculations/new", data=kept | {"project": "~eve"})
    assert stolen.status_code == 404 and f"no calculation {original.id}" in stolen.text

    command = mine.submit(["echo", "it's me"], name="plain")
    shell = alice.get(f"/calculations/new?from={command.id}").text
    assert '<option value="shell" selected>' in shell
    assert "echo 'it'\"'\"'s me'</textarea>" in html.unescape(shell), "a command comes back as a script"


def test_the_form_names_more_addresses_to_tell_when_it_ends(
    browser: Callable[[str], httpx.Client], client: Client
) -> None:
    alice = browser("alice")
    told = SHELL | {"cluster": "local", "notify": "pi@lab.example.org; tech@lab.example.org"}
    assert alice.post("/calculations/new", data=told).status_code == 303
    (made,) = client.list()
    assert client.get(made.id).notify == ["pi@lab.example.org", "tech@lab.example.org"]
