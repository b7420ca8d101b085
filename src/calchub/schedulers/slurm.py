"""Slurm without I/O: the sbatch script, and reading what sbatch, squeue and sinfo print.

Used by the agent's Slurm executor and by the server (which shows the exact
script before anything runs). Every value that reaches the script is either
checked against a strict pattern (names, partitions, directives) or quoted
for the shell, so no input can add a directive or run a command.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Literal

from calchub.contracts.calculations import Resources
from calchub.contracts.clusters import Partition, SlurmSettings

#: Slurm job states, and what each means for the calculation.
Phase = Literal["pending", "running", "done"]
PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED"}
RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING", "STOPPED"}
#: Final states other than COMPLETED, with the reason a user reads.
FAILURES = {
    "FAILED": "the job failed",
    "TIMEOUT": "Slurm stopped the job at its time limit",
    "CANCELLED": "the job was cancelled in Slurm",
    "NODE_FAIL": "a node of the job failed",
    "OUT_OF_MEMORY": "the job ran out of memory",
    "PREEMPTED": "the job was preempted",
    "BOOT_FAIL": "a node of the job failed to boot",
    "DEADLINE": "the job missed its deadline",
    "REVOKED": "the job was revoked",
    "SPECIAL_EXIT": "the job ended in a special exit state",
}
EXIT_CODE_FILE = ".calchub/exit_code"


@dataclass
class ScriptJob:
    """What the script of one calculation needs."""

    calc_id: int
    attempt: int
    name: str
    command: list[str]
    env: dict[str, str]
    workdir: str
    resources: Resources


def job_name(name: str, calc_id: int) -> str:
    """A job name squeue shows readably; anything but [A-Za-z0-9._-] becomes '_'."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:40].strip("_") or "calc"
    return f"ch{calc_id}-{cleaned}"


def slurm_time(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def directives(job: ScriptJob, settings: SlurmSettings, logs: str | None = None) -> list[str]:
    """The ``#SBATCH`` options of one job (or, with ``logs`` set, of the array it belongs to)."""
    r = job.resources
    found = [f"--job-name={job_name(job.name, job.calc_id)}", f"--nodes={r.nodes}", f"--ntasks={r.tasks}"]
    found.append(f"--cpus-per-task={r.cores}")
    if r.memory is not None:
        megabytes = max(1, -(-r.memory // 1024**2))
        found.append(f"--mem-per-cpu={megabytes}M" if r.memory_per == "cpu" else f"--mem={megabytes}M")
    if r.gpus:
        found.append(f"--gres=gpu:{r.gpus}")
    if r.walltime is not None:
        found.append(f"--time={slurm_time(r.walltime)}")
    for option, value in (
        ("partition", r.partition or settings.default_partition),
        ("account", r.account or settings.account),
        ("qos", r.qos or settings.qos),
        ("mail-user", r.mail_user),
    ):
        if value:
            found.append(f"--{option}={value}")
    if r.mail_type:
        found.append(f"--mail-type={','.join(r.mail_type)}")
    base = logs or f"{job.workdir}/.calchub"
    found += [f"--output={directive_value(base + '/stdout')}", f"--error={directive_value(base + '/stderr')}"]
    return found + list(settings.directives)


def directive_value(value: str) -> str:
    """A value as sbatch reads it from an ``#SBATCH`` line: split at spaces and cut at '#'
    unless double-quoted, with a backslash escaping the next character."""
    if re.search(r"[\n\r\x00]", value):
        raise ValueError(f"a line break cannot stand in an #SBATCH line: {value!r}")
    if re.fullmatch(r"[A-Za-z0-9_./:,=+@%-]*", value):
        return value
    return '"' + re.sub(r'(["\\])', r"\\\1", value) + '"'


def quote(value: str) -> str:
    """Shell-quote one word so that it also stays on one line: ``$'...'`` when it holds a
    line break or another control character (a script's reader must never find a line that
    starts with ``#SBATCH`` in its body)."""
    if not re.search(r"[\x00-\x1f\x7f]", value):
        return shlex.quote(value)
    escaped = []
    for char in value:
        if char in "\\'":
            escaped.append("\\" + char)
        elif ord(char) < 32 or ord(char) == 127:
            escaped.append(f"\\x{ord(char):02x}")
        else:
            escaped.append(char)
    return "$'" + "".join(escaped) + "'"


def render_script(job: ScriptJob, settings: SlurmSettings) -> str:
    """The sbatch script of one calculation, as a user reads it and as it runs."""
    lines = ["#!/bin/bash", f"# calchub calculation {job.calc_id}, attempt {job.attempt}"]
    lines += [f"#SBATCH {option}" for option in directives(job, settings)]
    return "\n".join([*lines, "", *body(job, settings)]) + "\n"


def body(job: ScriptJob, settings: SlurmSettings) -> list[str]:
    """Everything after the directives: setup, folder, environment, the command, its exit code."""
    lines = list(settings.setup)
    lines.append(f"cd {quote(job.workdir)} || exit 97")
    env = {**job.env, "CALCHUB_CALCULATION_ID": str(job.calc_id), "CALCHUB_ATTEMPT": str(job.attempt)}
    lines += [f"export {key}={quote(value)}" for key, value in env.items() if _env_name(key)]
    lines.append(" ".join(quote(word) for word in job.command))
    lines += ["code=$?", f"echo $code > {EXIT_CODE_FILE}", "exit $code"]
    return lines


def _env_name(key: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) is not None


def array_launcher(first: ScriptJob, scripts: list[str], settings: SlurmSettings, logs: str) -> str:
    """One sbatch script for many same-shaped calculations: task i runs the i-th script.

    Each task's own output goes where its calculation's script says (the
    launcher's goes to ``logs``); the per-calculation scripts are the ones users read.
    """
    options = [o for o in directives(first, settings, logs) if not o.startswith("--job-name=")]
    options.insert(0, f"--job-name=ch-array-{first.calc_id}")
    lines = ["#!/bin/bash", f"# calchub: {len(scripts)} calculations as one job array"]
    lines += [f"#SBATCH {option}" for option in options]
    lines.append("scripts=(" + " ".join(quote(s) for s in scripts) + ")")
    lines.append('script="${scripts[$SLURM_ARRAY_TASK_ID]}"')
    lines.append('folder="$(dirname "$(dirname "$script")")"')
    lines.append('exec bash "$script" > "$folder/.calchub/stdout" 2> "$folder/.calchub/stderr"')
    return "\n".join(lines) + "\n"


def shape(resources: Resources) -> str:
    """Calculations with the same shape may share one job array."""
    return resources.model_dump_json()


# -- reading Slurm's output ---------------------------------------------------------


def parse_sbatch(out: str) -> str:
    """The job id from ``sbatch --parsable`` ("123" or "123;cluster")."""
    job_id = out.strip().split(";")[0]
    if not re.fullmatch(r"\d+", job_id):
        raise ValueError(f"sbatch printed no job id: {out.strip()!r}")
    return job_id


@dataclass
class JobStatus:
    job_id: str
    state: str
    reason: str = ""
    exit_code: int | None = None
    phase: Phase = field(init=False)

    def __post_init__(self) -> None:
        base = self.state.split()[0].rstrip("+") if self.state else "PENDING"
        self.state = base
        self.phase = "pending" if base in PENDING else "running" if base in RUNNING else "done"


SQUEUE_FORMAT = "%i|%T|%r"


def parse_squeue(out: str) -> dict[str, JobStatus]:
    """``squeue -h -o '%i|%T|%r'`` lines by job id (array tasks as "123_4")."""
    found = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3 and parts[0]:
            reason = "" if parts[2] in {"None", "(null)"} else parts[2]
            found[parts[0]] = JobStatus(parts[0], parts[1], reason)
    return found


SACCT_FIELDS = "JobID,State,ExitCode,Reason"


def parse_sacct(out: str) -> dict[str, JobStatus]:
    """``sacct -n -P -X -o JobID,State,ExitCode,Reason`` lines by job id."""
    found = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 3 and parts[0]:
            code = parts[2].split(":")[0]
            reason = parts[3] if len(parts) > 3 and parts[3] not in {"None", ""} else ""
            found[parts[0]] = JobStatus(parts[0], parts[1], reason, int(code) if code.isdigit() else None)
    return found


SINFO_FORMAT = "%R|%a|%F|%C|%l|%G|%P"


def parse_sinfo(out: str) -> list[Partition]:
    """``sinfo -h -o '%R|%a|%F|%C|%l|%G|%P'``: one row per partition (GPUs from the gres column)."""
    rows: dict[str, Partition] = {}
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 7:
            continue
        name, avail, nodes, cpus, limit, gres, label = parts
        _, idle, _, total = (_int(n) for n in (nodes.split("/") + ["0"] * 4)[:4])
        _, cpu_idle, _, cpu_total = (_int(n) for n in (cpus.split("/") + ["0"] * 4)[:4])
        row = rows.setdefault(name, Partition(name=name, state=avail, default=label.endswith("*")))
        row.nodes_total += total
        row.nodes_idle += idle
        row.cpus_total += cpu_total
        row.cpus_idle += cpu_idle
        row.gpus_total += _gpus(gres) * total
        row.gpus_idle += _gpus(gres) * idle
        row.time_limit = limit
    return list(rows.values())


def _gpus(gres: str) -> int:
    found = re.findall(r"gpu(?::[^:,()]+)?:(\d+)", gres)
    return sum(int(n) for n in found)


def _int(text: str) -> int:
    return int(text) if text.isdigit() else 0
