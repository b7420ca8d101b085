"""How fast the list of calculations is with a million of them in the database.

Two databases in the same run: a big one (N calculations, a million by default) and a
small one (10,000) whose first page is the baseline. Each is a temporary SQLite file, or
with ``--db postgresql`` a database on 127.0.0.1:5432 whose name ends in ``_test``
(``calchub_bench_million_test`` and ``calchub_bench_10k_test``, made and dropped here).

Each database is migrated with the project's own migrations (``db.migrate.upgrade``), and
a real server is started on it as a separate process (``--bootstrap``: the admin and the
cluster ``local``). The people come through the public client: 8 group projects, 23
users in one or two of them each, a second admin ``ops`` who signs in to the pages, and
``mia``, a plain member of ``alpha`` only. The calculations themselves are written
straight into the ``calculations`` table (``db.tables.Calculation``), 20,000 rows per
``INSERT`` statement, because a million through the API would take too long: submitting
alone goes at about 1,000 a second here on a small table, and running them all through an
agent at about 200 a second (``bench/throughput.py``); nor could the API make a year of
history, as it stamps every calculation with the time it arrives. Only what the list reads
is seeded: the calculations, with names, owners, projects, clusters, types, states,
resources and times as a year of use leaves them (submitted over the 365 days before the
run, ids in submission order, the newest few thousand still queued or running, the rest
mostly completed, 9% failed); no events, files or results, which the list does not read
(files are looked up by calculation id for the 50 rows shown). On
PostgreSQL the table is analyzed after seeding, as autovacuum would do within a minute;
SQLite is left without statistics, as calchub never runs ``ANALYZE``.

Then it signs in to the pages as a browser does, as ``ops`` (an admin, who sees every
project) and as ``mia`` (who sees ``alpha`` and her personal project), and times GET of
each list R times, round after round, after 2 warm-up rounds: the first page, failed ones,
``name=relax*``, one calculation type, a month of submissions, and the 20th page reached by
following "Next page". Where the page has no type or date filter yet, those two are timed
on the JSON API (``/api/v1/calculations?...&limit=50``, the viewer's token) and the table
says so. In the same rounds: the first page of the small database, for both viewers.
With ``--more``, also other orders, filters that match little or nothing, and the
dashboard and project pages at N rows, shown in the table but not in the result.

    python bench/list_million.py [-n 1000000] [--repeat 10] [--db sqlite|postgresql] [--more]

A table of p50 and p95 per database, viewer and list goes to stderr. The last line
printed is the result (the worst list by p50 at N rows, over both viewers, and its ratio
to the same viewer's first page at 10,000):
rows=... db=... worst_page=... worst_viewer=... worst_p50_ms=... worst_p95_ms=...
first_page_10k_p50_ms=... ratio=... target_ms=300
Target on a 2-core machine: every list's p50 at a million under 300 ms; the exit status
is 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import Engine, insert, text

import pages
from calchub.client import Client
from calchub.server.db.engine import make_engine
from calchub.server.db.migrate import upgrade
from calchub.server.db.tables import Calculation
from calchub.testing import free_port
from pages import EMPTY, PASSWORD, Target, browser, checked, deep_page, measure, p50_p95
from throughput import _client, start, stop

TARGET_MS = 300
BASELINE_ROWS = 10_000
INSERT_ROWS = 20_000
PAGE_HOPS = 19  # the first page and 19 hops: the 20th page
GROUPS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
USERS = [f"u{k:02d}" for k in range(1, 24)]
MEMBER = ("mia", "alpha")
CLUSTERS = {"local": 2, "hpc1": 5, "hpc2": 3}
TYPES = {None: 55, "shell": 15, "lammps": 15, "bumps": 10, "python": 5}
NAMES = {"relax": 15, "scan": 15, "md": 20, "phonons": 10, "bands": 10, "fit": 15, "neb": 5, "dos": 10}
MATERIALS = ["Si", "GaAs", "TiO2", "Fe", "Cu", "NaCl", "MoS2", "graphene"]
#: States of work finished long ago; the newest ``LIVE`` rows wait or run instead.
DONE = {"completed": 84, "failed": 9, "cancelled": 4, "lost": 1, "invalid": 1, "rejected": 1}
LIVE_STATES = {"queued": 70, "running": 20, "claimed": 5, "submitted": 5}
LIVE = 3000
TYPE_SHOWN = "lammps"
#: The month of submissions timed: days before the run.
MONTH = (200, 170)
#: With ``--more``: other orders, filters that match little or nothing (``u02`` has
#: nothing in ``alpha``), and the pages that count.
MORE = [
    "/calculations?sort=name",
    "/calculations?sort=-priority",
    "/calculations?state=failed&sort=name",
    "/calculations?name=no-such-name*",
    "/calculations?owner=u02",
    "/calculations?project=alpha&sort=name",
    "/",
    "/projects",
    "/projects/alpha",
]


@dataclass
class People:
    """Ids the seeded rows refer to, and the signed-in viewers' tokens."""

    users: dict[str, int] = field(default_factory=dict)
    projects: dict[str, int] = field(default_factory=dict)
    clusters: dict[str, int] = field(default_factory=dict)
    #: Each user's projects: the group ones, then the personal one.
    of: dict[str, list[str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


@dataclass
class Site:
    """One database with its server."""

    label: str
    rows: int
    url: str
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def database(kind: str, tmp: Path, label: str) -> Iterator[str]:
    """A new, empty database: a file under ``tmp``, or a PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / label / 'calchub.db'}"
        return
    with pages.database(kind, tmp, label) as url:
        assert url is not None
        yield url


def people(admin: Client) -> People:
    """Projects, clusters and users through the API, as an admin would make them."""
    found = People()
    for name in GROUPS:
        admin.create_project(name)
    for name in CLUSTERS:
        if name != "local":
            admin.register_cluster(name, description="a batch cluster")
    for k, name in enumerate(USERS):
        groups = [GROUPS[k % len(GROUPS)]] + ([GROUPS[(k + 3) % len(GROUPS)]] if k % 2 else [])
        admin.create_user(name, projects=groups)
        found.of[name] = [*groups, f"~{name}"]
    for name, projects in (("ops", []), (MEMBER[0], [MEMBER[1]])):
        role = "admin" if name == "ops" else "user"
        admin.create_user(name, PASSWORD, role=role, projects=projects)
        found.of[name] = [*projects, f"~{name}"]
        with Client(admin.url) as client:
            found.tokens[name] = client.login(name, PASSWORD).token
    found.users = {u.username: u.id for u in admin.users()}
    found.projects = {p.name: p.id for p in admin.projects()}
    found.clusters = {c.name: c.id for c in admin.clusters()}
    return found


def pick(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def calculation(rng: random.Random, found: People, i: int, n: int, end: datetime) -> dict[str, Any]:
    """The row of the ``i``-th of ``n`` calculations: submitted over the year before ``end``."""
    owner = rng.choices([*USERS, MEMBER[0]], weights=[*range(len(USERS), 0, -1), 6])[0]
    projects = found.of[owner]
    project = projects[-1] if rng.random() < 0.2 else rng.choice(projects[:-1] or projects)
    created = end - timedelta(days=365) * (1 - i / n)
    calctype = pick(rng, TYPES)
    state = pick(rng, LIVE_STATES if i >= n - LIVE else DONE)
    started = created + timedelta(seconds=rng.randint(1, 3600)) if state != "queued" else None
    finished = started + timedelta(seconds=rng.randint(1, 36_000)) if started and state in DONE else None
    prefix = pick(rng, NAMES)
    return {
        "name": f"{prefix}-{rng.choice(MATERIALS)}-{i:07d}",
        "owner_id": found.users[owner],
        "cluster_id": found.clusters[pick(rng, CLUSTERS)],
        "project_id": found.projects[project],
        "state": state,
        "command": ["lmp", "-in", "in.lammps"] if calctype else ["python", "run.py", str(i)],
        "env": {},
        "outputs": ["*.log"],
        "cores": rng.choice([1, 1, 2, 4, 8, 16, 32]),
        "gpus": 0,
        "memory": None,
        "walltime": rng.choice([None, 3600, 86_400]),
        "priority": rng.choice([0, 0, 0, 0, 10, -10]),
        "attempt": 0 if state == "queued" else 1,
        "max_attempts": 2,
        "exit_code": {"completed": 0, "failed": 1}.get(state),
        "message": "exit code 1" if state == "failed" else None,
        "created_at": created,
        "updated_at": finished or started or created,
        "started_at": started,
        "finished_at": finished,
        "lease_agent": None,
        "lease_expires_at": None,
        "provenance": {},
        "calctype": calctype,
        "calctype_version": "1.0" if calctype else None,
        "calctype_digest": "0" * 64 if calctype else None,
        "inputs": {"steps": 1000} if calctype else None,
        "analyses": [] if calctype else None,
        "study": rng.choice([None, None, None, "screening", "convergence"]),
        "bytes_freed": None,
        "scheduler": None,
    }


def seed(engine: Engine, found: People, n: int) -> None:
    """N calculations, straight into the table, INSERT_ROWS per statement and transaction."""
    rng = random.Random(n)
    end = datetime.now(UTC) - timedelta(minutes=1)
    table = Calculation.__table__
    for first in range(0, n, INSERT_ROWS):
        rows = [calculation(rng, found, i, n, end) for i in range(first, min(n, first + INSERT_ROWS))]
        with engine.begin() as connection:
            connection.execute(insert(table), rows)  # type: ignore[arg-type]
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def prepare(site: Site, home: Path) -> People:
    """Migrate, start the server, make the people through it, then seed the calculations."""
    engine = make_engine(site.url)
    try:
        upgrade(engine)
        site.processes = start(home, site.port, cores=1, agent=False, database_url=site.url)
        with _client(home) as admin:
            found = people(admin)
        began = time.perf_counter()
        seed(engine, found, site.rows)
        print(f"{site.label}: seeded {site.rows} in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    finally:
        engine.dispose()
    return found


def filtered(http: httpx.Client, token: str, query: str, nothing: str) -> tuple[str, dict[str, str]]:
    """A filter on the page if the page has it, else on the API: its path and headers.

    The page ignores a parameter it does not know, so the filter is first tried with
    ``nothing``, a value that matches no calculation: a page that has the filter lists none.
    """
    if EMPTY in checked(http, f"/calculations?{nothing}").text:
        return f"/calculations?{query}", {}
    return f"/api/v1/calculations?{query}&limit=50", {"Authorization": f"Bearer {token}"}


def lists(site: Site, found: People, viewer: str) -> Iterator[Target]:
    """The lists in the result, each checked to list something (an empty one would be quick)."""
    http = browser(site.base, viewer)
    for path in ("/calculations", "/calculations?state=failed", "/calculations?name=relax*"):
        yield listing(Target(viewer, path, http, path))
    today = datetime.now(UTC).date()
    month = {"submitted_from": today - timedelta(days=MONTH[0])}
    month["submitted_before"] = today - timedelta(days=MONTH[1])
    for query, nothing in (
        (urlencode({"type": TYPE_SHOWN}), "type=no-such-type"),
        (urlencode(month), "submitted_from=2999-01-01"),
    ):
        path, headers = filtered(http, found.tokens[viewer], query, nothing)
        client = httpx.Client(base_url=site.base, timeout=60) if headers else http
        yield listing(Target(viewer, path, client, path, headers))
    yield Target(viewer, f"/calculations?cursor=(page-{PAGE_HOPS + 1})", http, deep_page(http, PAGE_HOPS))


def listing(target: Target) -> Target:
    answer = checked(target.http, target.path, headers=target.headers)
    empty = not answer.json()["items"] if target.headers else EMPTY in answer.text
    if empty:
        raise SystemExit(f"GET {target.path} as {target.viewer} listed no calculations")
    return target


def others(site: Site, viewer: str) -> Iterator[Target]:
    """With ``--more``: the other orders, filters that match little or nothing, other pages."""
    http = browser(site.base, viewer)
    for path in MORE:
        yield Target(viewer, path, http, path)


def run(kind: str, n: int, repeat: int, more: bool) -> tuple[dict[str, list[Target]], str]:
    with tempfile.TemporaryDirectory(prefix="calchub-bench-") as tmp, contextlib.ExitStack() as stack:
        sites = {}
        for label, rows in (("10k", BASELINE_ROWS), ("million", n)):
            home = Path(tmp) / label
            url = stack.enter_context(database(kind, Path(tmp), label))
            site = Site(label, rows, url)
            stack.callback(lambda s=site: stop(s.processes))
            sites[label] = (site, prepare(site, home))
        chosen: dict[str, list[Target]] = {}
        for viewer in ("ops", MEMBER[0]):
            small, found = sites["10k"]
            http = browser(small.base, viewer)
            chosen.setdefault("10k", []).append(Target(viewer, "/calculations", http, "/calculations"))
            big, found = sites["million"]
            chosen.setdefault("million", []).extend(lists(big, found, viewer))
            if more:
                chosen.setdefault("more", []).extend(others(big, viewer))
        measure([t for group in chosen.values() for t in group], repeat)
        for target in (t for group in chosen.values() for t in group):
            target.http.close()
    return chosen, kind


def report(chosen: dict[str, list[Target]], n: int, kind: str) -> None:
    print(f"{'rows':>8} {'viewer':<6} {'list':<60} {'p50 ms':>8} {'p95 ms':>8}", file=sys.stderr)
    for label, group in chosen.items():
        rows = BASELINE_ROWS if label == "10k" else n
        if label == "more":
            print("not in the result (--more):", file=sys.stderr)
        for t in group:
            p50, p95 = p50_p95(t.samples)
            print(f"{rows:>8} {t.viewer:<6} {t.name:<60} {p50:>8.1f} {p95:>8.1f}", file=sys.stderr)
    worst = max(chosen["million"], key=lambda t: statistics.median(t.samples))
    base = next(t for t in chosen["10k"] if t.viewer == worst.viewer)
    p50, p95 = p50_p95(worst.samples)
    base_p50 = statistics.median(base.samples)
    print(
        f"rows={n} db={kind} worst_page={worst.name} worst_viewer={worst.viewer} worst_p50_ms={p50:.1f} "
        f"worst_p95_ms={p95:.1f} first_page_10k_p50_ms={base_p50:.1f} ratio={p50 / base_p50:.2f} "
        f"target_ms={TARGET_MS}"
    )
    sys.exit(1 if p50 > TARGET_MS else 0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1_000_000, help="calculations in the big database")
    parser.add_argument("--repeat", type=int, default=10, help="timed loads of each list")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--more", action="store_true", help="also time other lists and pages (not in result)")
    args = parser.parse_args()
    began = time.perf_counter()
    chosen, kind = run(args.db, args.n, args.repeat, args.more)
    print(f"took {time.perf_counter() - began:.0f} s", file=sys.stderr)
    report(chosen, args.n, kind)


if __name__ == "__main__":
    main()
