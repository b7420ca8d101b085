"""The sbatch script and the reading of Slurm's output (schedulers.slurm), no Slurm needed.

The hostile-input tests check the script the way sbatch and bash read it: sbatch takes
``#SBATCH`` lines only up to the first command line (and splits them on unquoted
whitespace, a ``#`` ending the line), bash runs the rest.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from calchub.contracts.calculations import Resources
from calchub.contracts.clusters import Partition, SlurmSettings
from calchub.schedulers.slurm import (
    JobStatus,
    ScriptJob,
    array_launcher,
    body,
    directives,
    job_name,
    parse_sacct,
    parse_sbatch,
    parse_sinfo,
    parse_squeue,
    render_script,
    shape,
    slurm_time,
)

MI, GI = 1024**2, 1024**3
JOB_NAME = re.compile(r"^ch\d+-[A-Za-z0-9._-]+$")


def script_job(**fields: object) -> ScriptJob:
    values: dict[str, object] = {
        "calc_id": 42,
        "attempt": 2,
        "name": "relax Fe",
        "command": ["lmp", "-in", "in.lammps"],
        "env": {"OMP_NUM_THREADS": "4"},
        "workdir": "/scratch/calchub/42-2",
        "resources": Resources(),
    }
    values.update(fields)
    return ScriptJob(**values)  # type: ignore[arg-type]


def sbatch_reads(script: str) -> list[str]:
    """The options sbatch takes from a script: ``#SBATCH`` lines before the first command line."""
    found: list[str] = []
    for line in script.splitlines()[1:]:
        if line.startswith("#SBATCH"):
            found += shlex.split(line[len("#SBATCH") :], comments=True)
        elif line.strip() and not line.lstrip().startswith("#"):
            break
    return found


def bash(script: Path | str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "HOME": str(cwd), **env},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


# -- the script of one calculation -------------------------------------------------


def test_a_typical_job_renders_every_directive_in_order_then_the_body() -> None:
    settings = SlurmSettings(
        default_partition="debug",
        account="grp",
        qos="normal",
        directives=["--constraint=haswell", "--exclusive"],
        setup=["module load lammps", "ulimit -s unlimited"],
    )
    resources = Resources(
        nodes=2,
        tasks=8,
        cores=4,
        memory=3 * GI + 1,  # rounded up to whole megabytes
        gpus=2,
        walltime=90061,
        partition="gpu",
        qos="high",
        mail_user="ada@example.org",
        mail_type=["END", "FAIL"],
    )
    script = render_script(script_job(resources=resources), settings)
    assert script == "\n".join(
        [
            "#!/bin/bash",
            "# calchub calculation 42, attempt 2",
            "#SBATCH --job-name=ch42-relax_Fe",
            "#SBATCH --nodes=2",
            "#SBATCH --ntasks=8",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --mem=3073M",
            "#SBATCH --gres=gpu:2",
            "#SBATCH --time=1-01:01:01",
            "#SBATCH --partition=gpu",
            "#SBATCH --account=grp",  # not in the resources: the cluster's default
            "#SBATCH --qos=high",
            "#SBATCH --mail-user=ada@example.org",
            "#SBATCH --mail-type=END,FAIL",
            "#SBATCH --output=/scratch/calchub/42-2/.calchub/stdout",
            "#SBATCH --error=/scratch/calchub/42-2/.calchub/stderr",
            "#SBATCH --constraint=haswell",
            "#SBATCH --exclusive",
            "",
            "module load lammps",
            "ulimit -s unlimited",
            "cd /scratch/calchub/42-2 || exit 97",
            "export OMP_NUM_THREADS=4",
            "export CALCHUB_CALCULATION_ID=42",
            "export CALCHUB_ATTEMPT=2",
            "lmp -in in.lammps",
            "code=$?",
            "echo $code > .calchub/exit_code",
            "exit $code",
            "",
        ]
    )
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0


def test_a_plain_job_takes_partition_account_and_qos_from_the_settings() -> None:
    settings = SlurmSettings(default_partition="short", account="grp", qos="normal")
    job = script_job(resources=Resources(cores=2, memory="2G", memory_per="cpu", walltime=59))
    assert directives(job, settings) == [
        "--job-name=ch42-relax_Fe",
        "--nodes=1",
        "--ntasks=1",
        "--cpus-per-task=2",
        "--mem-per-cpu=2048M",
        "--time=00:00:59",
        "--partition=short",
        "--account=grp",
        "--qos=normal",
        "--output=/scratch/calchub/42-2/.calchub/stdout",
        "--error=/scratch/calchub/42-2/.calchub/stderr",
    ]


def test_without_settings_or_choices_there_is_no_partition_account_qos_memory_gpu_time_or_mail() -> None:
    options = directives(script_job(), SlurmSettings())
    assert [o.split("=")[0] for o in options] == [
        "--job-name",
        "--nodes",
        "--ntasks",
        "--cpus-per-task",
        "--output",
        "--error",
    ]


@pytest.mark.parametrize(
    ("memory", "expected"),
    [
        (1, "--mem=1M"),
        (MI, "--mem=1M"),
        (MI + 1, "--mem=2M"),
        ("512M", "--mem=512M"),
        ("1.5G", "--mem=1536M"),
    ],
)
def test_memory_is_given_in_whole_megabytes_rounded_up(memory: int | str, expected: str) -> None:
    options = directives(script_job(resources=Resources(memory=memory)), SlurmSettings())
    assert [o for o in options if o.startswith("--mem")] == [expected]


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (1, "00:00:01"),
        (59, "00:00:59"),
        (60, "00:01:00"),
        (3600, "01:00:00"),
        (86399, "23:59:59"),
        (86400, "1-00:00:00"),
        (90061, "1-01:01:01"),
        (10 * 86400 + 5, "10-00:00:05"),
    ],
)
def test_slurm_time(seconds: int, expected: str) -> None:
    assert slurm_time(seconds) == expected


@pytest.mark.parametrize(
    "name",
    [
        "relax Fe",
        'it\'s "quoted"',
        "a\nb\r\nc",
        "x\n#SBATCH --partition=evil",
        "--partition=evil",
        "$(rm -rf /)",
        "`id`; echo pwned",
        "Fe₂O₃ 🧪",
        "",
        "___",
        "x" * 500,
    ],
)
def test_job_names_are_always_plain(name: str) -> None:
    made = job_name(name, 7)
    assert JOB_NAME.fullmatch(made), made
    assert len(made) <= len("ch7-") + 40


def test_env_keys_that_are_not_shell_names_are_dropped_and_ours_cannot_be_overridden() -> None:
    env = {
        "GOOD": "1",
        "_ALSO_OK9": "2",
        "BAD-KEY": "x",
        "1X": "x",
        "A B": "x",
        "X;touch pwned": "x",
        "X=Y": "x",
        "": "x",
        "$(id)": "x",
        "CALCHUB_CALCULATION_ID": "999",
    }
    exports = [line for line in body(script_job(env=env), SlurmSettings()) if line.startswith("export ")]
    assert exports == [
        "export GOOD=1",
        "export _ALSO_OK9=2",
        "export CALCHUB_CALCULATION_ID=42",
        "export CALCHUB_ATTEMPT=2",
    ]


# -- hostile input ---------------------------------------------------------------------

HOSTILE = [
    'it\'s "quoted"',
    "two\nlines",
    "x\n#SBATCH --partition=evil",
    "#SBATCH --qos=evil",
    "$(rm -rf /)",
    "`id`",
    "'; id; echo '",
    '"; id; echo "',
    "$HOME ${PATH} $1 * ?",
    "back\\slash\\n\\",
    "tab\there\r\nand CRLF",
    "-n",
    "",
]
#: What a correct script must not have done when it runs (each makes ``pwned`` in the cwd).
HOSTILE_RUN = [
    "$(touch pwned)",
    "`touch pwned`",
    "'; touch pwned; echo '",
    '"; touch pwned; echo "',
    "x\ntouch pwned\n",
    "x\n#SBATCH --partition=evil\ntouch pwned",
    "$HOME ${PATH} * ? ~ !! &",
    "back\\slash\\n\\",
    "it's",
    "-n",
    "",
]
EXPECTED_OPTIONS = ["--job-name", "--nodes", "--ntasks", "--cpus-per-task", "--output", "--error"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_names_env_and_arguments_add_no_directive_and_keep_the_syntax(hostile: str) -> None:
    job = script_job(name=hostile, env={"HOSTILE": hostile}, command=["printf", "%s\n", hostile, hostile])
    script = render_script(job, SlurmSettings())
    read = sbatch_reads(script)
    assert [o.split("=")[0] for o in read] == EXPECTED_OPTIONS
    assert read == directives(job, SlurmSettings())
    assert JOB_NAME.fullmatch(read[0].removeprefix("--job-name="))
    # The name reaches nothing but the job name: no line anywhere is made by it.
    named = render_script(script_job(name=hostile), SlurmSettings())
    assert named == render_script(script_job(name="relax Fe"), SlurmSettings()).replace(
        "--job-name=ch42-relax_Fe", read[0]
    )
    checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_no_line_of_the_script_starts_with_sbatch_but_the_directives() -> None:
    hostile = "x\n#SBATCH --partition=evil"
    job = script_job(name=hostile, env={"HOSTILE": hostile}, command=["printf", "%s\n", hostile])
    script = render_script(job, SlurmSettings())
    marked = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert marked == [f"#SBATCH {o}" for o in directives(job, SlurmSettings())]


def test_running_a_script_with_hostile_arguments_prints_them_literally_and_runs_nothing_else(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "work"
    (workdir / ".calchub").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    job = script_job(
        name=HOSTILE_RUN[0],
        workdir=str(workdir),
        command=["printf", "%s\n", *HOSTILE_RUN],
        env={f"H{i}": h for i, h in enumerate(HOSTILE_RUN)},
    )
    script = tmp_path / "job.sh"
    script.write_text(render_script(job, SlurmSettings()))
    done = bash(script, elsewhere)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(f"{h}\n" for h in HOSTILE_RUN)
    assert (workdir / ".calchub" / "exit_code").read_text() == "0\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        ".calchub",
        "elsewhere",
        "exit_code",
        "job.sh",
        "work",
    ]


def test_hostile_env_values_reach_the_command_literally(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    (workdir / ".calchub").mkdir(parents=True)
    keys = [f"H{i}" for i in range(len(HOSTILE_RUN))]
    job = script_job(
        workdir=str(workdir),
        env=dict(zip(keys, HOSTILE_RUN, strict=True)),
        command=["printenv", *keys, "CALCHUB_CALCULATION_ID", "CALCHUB_ATTEMPT"],
    )
    script = tmp_path / "job.sh"
    script.write_text(render_script(job, SlurmSettings()))
    done = bash(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(f"{h}\n" for h in [*HOSTILE_RUN, "42", "2"])
    assert not list(tmp_path.rglob("pwned"))


def test_the_script_runs_in_its_folder_and_keeps_the_command_exit_code(tmp_path: Path) -> None:
    workdir = tmp_path / "a folder with 'quotes' and $(spaces)"
    (workdir / ".calchub").mkdir(parents=True)
    job = script_job(workdir=str(workdir), command=["sh", "-c", 'pwd; echo "$CALCHUB_ATTEMPT"; exit 3'])
    script = tmp_path / "job.sh"
    script.write_text(render_script(job, SlurmSettings(setup=["echo setup first"])))
    done = bash(script, tmp_path)
    assert done.returncode == 3
    assert done.stdout == f"setup first\n{workdir}\n2\n"
    assert (workdir / ".calchub" / "exit_code").read_text() == "3\n"


def test_a_missing_folder_stops_the_script_before_the_command(tmp_path: Path) -> None:
    job = script_job(workdir=str(tmp_path / "gone"), command=["touch", str(tmp_path / "ran")])
    script = tmp_path / "job.sh"
    script.write_text(render_script(job, SlurmSettings()))
    assert bash(script, tmp_path).returncode == 97
    assert not (tmp_path / "ran").exists()


def test_a_work_folder_with_a_space_stays_one_sbatch_argument() -> None:
    job = script_job(workdir="/scratch/my calcs/42-2")
    read = sbatch_reads(render_script(job, SlurmSettings()))
    assert "--output=/scratch/my calcs/42-2/.calchub/stdout" in read
    assert "--error=/scratch/my calcs/42-2/.calchub/stderr" in read


# -- what admins and users may set -----------------------------------------------------


@pytest.mark.parametrize(
    "directive",
    ["--constraint=haswell", "--exclusive", "--gres-flags=enforce-binding", "--hint=nomultithread"],
)
def test_settings_accept_plain_directives(directive: str) -> None:
    assert SlurmSettings(directives=[directive]).directives == [directive]


@pytest.mark.parametrize(
    "directive",
    [
        "--constraint=a b",
        "--x=1\n#SBATCH --y",
        "--x=1\n",
        "--x=$(id)",
        "--x=`id`",
        "--x='a'",
        '--x="a"',
        "--x=a;id",
        "--x=a|id",
        "--x=a&",
        "--x=a\\",
        "--x=<in",
        "-x",
        "x",
        "--",
        "--X=1",
        "--x=",
        " --x=1",
    ],
)
def test_settings_refuse_directives_that_could_change_the_script(directive: str) -> None:
    with pytest.raises(ValidationError):
        SlurmSettings(directives=[directive])


@pytest.mark.parametrize(
    "fields",
    [
        {"default_partition": "a;b"},
        {"account": "a b"},
        {"qos": "$(id)"},
        {"partitions": ["ok", "no pe"]},
        {"setup": ["module load x\nrm -rf /"]},
        {"max_array_size": 0},
        {"poll_seconds": 0},
        {"unknown": 1},
    ],
)
def test_settings_refuse_bad_values(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SlurmSettings.model_validate(fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"partition": "a;b"},
        {"partition": "-p"},
        {"qos": "a b"},
        {"account": "`id`"},
        {"mail_user": "x@y; rm"},
        {"mail_user": "x@y,z@w"},
        {"mail_user": "$(id)@example.org"},
        {"mail_user": "nobody"},
        {"mail_type": ["END;id"]},
        {"nodes": 0},
        {"tasks": 0},
        {"memory_per": "node"},
    ],
)
def test_resources_refuse_what_could_not_go_into_a_directive(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Resources.model_validate(fields)


def test_resources_accept_the_batch_fields() -> None:
    r = Resources(
        nodes=4,
        tasks=128,
        memory_per="cpu",
        partition="gpu-a100",
        qos="long+",
        account="proj.42",
        mail_user="first.last+calc@uni.example.edu",
        mail_type=["BEGIN", "END"],
    )
    assert r.scheduler_fields() == {
        "nodes": 4,
        "tasks": 128,
        "memory_per": "cpu",
        "partition": "gpu-a100",
        "qos": "long+",
        "account": "proj.42",
        "mail_user": "first.last+calc@uni.example.edu",
        "mail_type": ["BEGIN", "END"],
    }


def test_shape_is_the_same_for_the_same_resources_only() -> None:
    assert shape(Resources(cores=2, walltime=60)) == shape(Resources(walltime=60, cores=2))
    assert shape(Resources(cores=2)) != shape(Resources(cores=3))
    assert shape(Resources(partition="a")) != shape(Resources(partition="b"))


# -- job arrays ------------------------------------------------------------------------------


def test_the_array_launcher_runs_the_script_of_its_task_into_that_calculations_logs(tmp_path: Path) -> None:
    settings = SlurmSettings(default_partition="debug")
    jobs, scripts = [], []
    for calc_id, folder in [(11, "first calc"), (12, "it's the second")]:
        workdir = tmp_path / folder
        (workdir / ".calchub").mkdir(parents=True)
        job = script_job(
            calc_id=calc_id,
            attempt=1,
            workdir=str(workdir),
            command=["sh", "-c", 'echo "out of $CALCHUB_CALCULATION_ID"; echo "err of $1" >&2', "sh", folder],
        )
        script = workdir / ".calchub" / "job.sh"
        script.write_text(render_script(job, settings))
        jobs.append(job)
        scripts.append(str(script))
    logs = tmp_path / ".slurm" / "array-11-1"
    logs.mkdir(parents=True)
    launcher = array_launcher(jobs[0], scripts, settings, str(logs))

    lines = launcher.splitlines()
    assert [line for line in lines if "--job-name" in line] == ["#SBATCH --job-name=ch-array-11"]
    assert sbatch_reads(launcher) == [
        "--job-name=ch-array-11",
        "--nodes=1",
        "--ntasks=1",
        "--cpus-per-task=1",
        "--partition=debug",
        f"--output={logs}/stdout",
        f"--error={logs}/stderr",
    ]
    (array,) = [line for line in lines if line.startswith("scripts=(")]
    assert shlex.split(array.removeprefix("scripts=(").removesuffix(")")) == scripts
    assert 'script="${scripts[$SLURM_ARRAY_TASK_ID]}"' in lines

    (tmp_path / "launcher.sh").write_text(launcher)
    done = bash(tmp_path / "launcher.sh", logs, SLURM_ARRAY_TASK_ID="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    second = tmp_path / "it's the second" / ".calchub"
    assert (second / "stdout").read_text() == "out of 12\n"
    assert (second / "stderr").read_text() == "err of it's the second\n"
    assert (second / "exit_code").read_text() == "0\n"
    assert sorted(p.name for p in (tmp_path / "first calc" / ".calchub").iterdir()) == ["job.sh"]

    assert bash(tmp_path / "launcher.sh", logs, SLURM_ARRAY_TASK_ID="0").returncode == 0
    assert (tmp_path / "first calc" / ".calchub" / "stdout").read_text() == "out of 11\n"


# -- reading Slurm's output --------------------------------------------------------------


@pytest.mark.parametrize(("out", "expected"), [("123\n", "123"), ("123;dev\n", "123"), ("  9 ", "9")])
def test_parse_sbatch(out: str, expected: str) -> None:
    assert parse_sbatch(out) == expected


@pytest.mark.parametrize(
    "out", ["", "\n", "Submitted batch job 123", "sbatch: error: invalid partition", "12a", ";dev", "-1"]
)
def test_parse_sbatch_refuses_anything_but_a_job_id(out: str) -> None:
    with pytest.raises(ValueError, match="sbatch printed no job id") as caught:
        parse_sbatch(out)
    assert repr(out.strip()) in str(caught.value)


def test_parse_squeue() -> None:
    out = (
        "51|COMPLETED|None\n"
        "60_3|RUNNING|None\n"
        "61|PENDING|Resources\n"
        "62|PENDING|PartitionDown\n"
        "63|CANCELLED|None\n"
        "64|TIMEOUT|None\n"
        "65|PENDING|(null)\n"
        "66|CANCELLED+|None\n"
        "\n"
        "garbage line\n"
        "|RUNNING|None\n"
    )
    found = parse_squeue(out)
    assert list(found) == ["51", "60_3", "61", "62", "63", "64", "65", "66"]
    assert [(s.state, s.reason, s.phase) for s in found.values()] == [
        ("COMPLETED", "", "done"),
        ("RUNNING", "", "running"),
        ("PENDING", "Resources", "pending"),
        ("PENDING", "PartitionDown", "pending"),
        ("CANCELLED", "", "done"),
        ("TIMEOUT", "", "done"),
        ("PENDING", "", "pending"),
        ("CANCELLED", "", "done"),
    ]
    assert all(s.exit_code is None for s in found.values())
    assert parse_squeue("") == {}


def test_parse_sacct() -> None:
    out = (
        "70|FAILED|3:0|NonZeroExitCode\n"
        "71|OUT_OF_MEMORY|0:125|OutOfMemory\n"
        "72_1|CANCELLED by 1000|0:15|None\n"
        "73|COMPLETED|0:0|\n"
        "74|NODE_FAIL|\n"
        "\n"
    )
    found = parse_sacct(out)
    assert {k: (s.state, s.exit_code, s.reason, s.phase) for k, s in found.items()} == {
        "70": ("FAILED", 3, "NonZeroExitCode", "done"),
        "71": ("OUT_OF_MEMORY", 0, "OutOfMemory", "done"),
        "72_1": ("CANCELLED", 0, "", "done"),
        "73": ("COMPLETED", 0, "", "done"),
        "74": ("NODE_FAIL", None, "", "done"),
    }


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("PENDING", "pending"),
        ("CONFIGURING", "pending"),
        ("REQUEUED", "pending"),
        ("SUSPENDED", "pending"),
        ("", "pending"),
        ("RUNNING", "running"),
        ("COMPLETING", "running"),
        ("STAGE_OUT", "running"),
        ("COMPLETED", "done"),
        ("FAILED", "done"),
        ("TIMEOUT", "done"),
        ("CANCELLED", "done"),
        ("CANCELLED+", "done"),
        ("CANCELLED by 1000", "done"),
        ("NODE_FAIL", "done"),
        ("OUT_OF_MEMORY", "done"),
        ("PREEMPTED", "done"),
        ("BOOT_FAIL", "done"),
        ("SOMETHING_NEW", "done"),
    ],
)
def test_job_status_phases(state: str, phase: str) -> None:
    status = JobStatus("1", state)
    assert status.phase == phase
    assert " " not in status.state and "+" not in status.state


DEV_SINFO = "debug|up|0/1/0/1|0/2/0/2|infinite|(null)|debug*\nshort|up|0/1/0/1|0/2/0/2|10:00|(null)|short\n"


def test_parse_sinfo_on_the_dev_machine() -> None:
    assert parse_sinfo(DEV_SINFO) == [
        Partition(
            name="debug",
            state="up",
            default=True,
            nodes_total=1,
            nodes_idle=1,
            cpus_total=2,
            cpus_idle=2,
            time_limit="infinite",
        ),
        Partition(
            name="short",
            state="up",
            default=False,
            nodes_total=1,
            nodes_idle=1,
            cpus_total=2,
            cpus_idle=2,
            time_limit="10:00",
        ),
    ]


def test_parse_sinfo_counts_gpus_and_sums_the_lines_of_one_partition() -> None:
    out = (
        "gpu|up|1/3/0/4|8/120/0/128|2-00:00:00|gpu:v100:4|gpu\n"
        "gpu|up|2/0/0/2|64/0/0/64|2-00:00:00|gpu:a100:8(S:0-1)|gpu\n"
        "gpu|up|0/0/1/1|0/0/32/32|2-00:00:00|gpu:2,mps:100|gpu\n"
        "not|enough|fields\n"
        "\n"
    )
    (gpu,) = parse_sinfo(out)
    assert gpu == Partition(
        name="gpu",
        state="up",
        default=False,
        nodes_total=7,
        nodes_idle=3,
        cpus_total=224,
        cpus_idle=120,
        gpus_total=4 * 4 + 2 * 8 + 1 * 2,
        gpus_idle=3 * 4,
        time_limit="2-00:00:00",
    )


def test_parse_sinfo_reads_odd_counts_as_zero() -> None:
    (down,) = parse_sinfo("down|down|n/a|/|infinite|(null)|down\n")
    assert (down.state, down.nodes_total, down.cpus_total, down.gpus_total) == ("down", 0, 0, 0)
