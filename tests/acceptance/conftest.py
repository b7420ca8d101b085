"""A harness for the acceptance tests: real `calchub` processes, each site in its own home.

A :class:`Site` is one calchub installation: its own ``CALCHUB_HOME`` in a
temporary folder, its own free port and its own database. The server
(``python -m calchub.server --bootstrap``) and the agent (``calchub agent``)
run as separate processes, each the leader of its own process group, so a
test can stop or SIGKILL one alone. Whatever happens, teardown kills every
process the site started, including calculations orphaned by a killed agent
(found by the site's unique ``CALCHUB_HOME`` in their environment).

Nothing here sleeps for a fixed time: it waits on output lines, long-polls
and processes, and polls (short interval, deadline) only where there is no
event to wait on, such as a file appearing or a process going away.

Browser tests take ``browser_page``: a fresh page in Debian's headless
Chromium, driven by Playwright's sync API, started for each test. Requests
that leave 127.0.0.1 are aborted (the pages vendor every asset; a CDN would
only make tests hang or flake) and logged in ``browser_log`` with the page's
console messages and uncaught errors. Each test leaves a screenshot in
``test-artifacts/screenshots/``. They share ``sign_in`` (for accounts made
with ``BROWSER_PASSWORD``) and ``UNLABELLED`` (the form fields with no
label). They skip, saying why, without /usr/bin/chromium
(``scripts/ensure-chromium``) or the ``playwright`` package (the ``dev``
extra).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import psutil
import pytest

from calchub.client import Client
from calchub.testing import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

T = TypeVar("T")

CALCHUB = [sys.executable, "-m", "calchub"]
LEASE_SECONDS = 3
HEARTBEAT_SECONDS = 1
START_SECONDS = 30.0
STOP_SECONDS = 15.0
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container: Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_TIMEOUT_MS = 10_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# Everything but this machine; matched in Playwright's driver, so local requests never wait on Python.
OFFSITE_URL = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)(:\d+)?(/|$))")
#: The password of the accounts the browser tests make and sign in with.
BROWSER_PASSWORD = "browser password"
#: Every visible form control has a label (for=, wrapping, or aria-label): the unlabelled ones.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.id && document.querySelector(`label[for="${e.id}"]`)) && !e.closest('label')
               && !e.getAttribute('aria-label'))
  .map(e => e.name || e.outerHTML)"""


def eventually(check: Callable[[], T], timeout: float = 10.0, what: str = "a condition") -> T:
    """Poll ``check`` every 50 ms until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Proc:
    """A child process whose merged output is read line by line as it comes."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.name = name
        self.argv = argv
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._log = log
        self.popen = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self.pid = self.popen.pid
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        with self._log.open("a") as log:
            for line in self.popen.stdout:
                log.write(line)
                log.flush()
                with self._seen:
                    self.lines.append(line.rstrip("\n"))
                    self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    @property
    def output(self) -> str:
        with self._seen:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = START_SECONDS) -> re.Match[str]:
        """The first output line matching ``pattern`` (a regex), waiting for it to be printed."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        checked = 0
        with self._seen:
            while True:
                for line in self.lines[checked:]:
                    if found := regex.search(line):
                        return found
                checked = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (not self._reader.is_alive() and checked == len(self.lines)):
                    break
                self._seen.wait(min(left, 0.5))
        if not self._reader.is_alive():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
        pytest.fail(
            f"{self.name} (exit {self.popen.poll()}) did not print a line matching {pattern!r} "
            f"within {timeout} s; it printed:\n{self.output}"
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout: float = STOP_SECONDS) -> int:
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit within {timeout} s; it printed:\n{self.output}")
        self._reader.join(5)
        return code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_SECONDS) -> int:
        self.send(sig)
        return self.wait(timeout)

    def descendants(self) -> list[int]:
        try:
            return [p.pid for p in psutil.Process(self.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """SIGKILL the process group while its leader lives (a dead leader's group is swept by pid)."""
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.popen.kill()

    def reap(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        self._reader.join(5)
        # Closing a pipe another thread still reads would block on its lock: leave that one to GC.
        if self.popen.stdout is not None and not self._reader.is_alive():
            self.popen.stdout.close()


class Follower:
    """Reads ``Client.follow`` in a thread, so the test can wait on the stream with a deadline."""

    _END = object()

    def __init__(self, client: Client, calc_id: int, stream: str = "stdout") -> None:
        self.text = ""
        self.ended = False
        self._chunks: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(
            target=self._read, args=(client, calc_id, stream), name=f"follow-{calc_id}", daemon=True
        )
        self._thread.start()

    def _read(self, client: Client, calc_id: int, stream: str) -> None:
        try:
            for chunk in client.follow(calc_id, stream):
                self._chunks.put(chunk)
        except BaseException as error:  # handed to the test thread
            self._chunks.put(error)
        self._chunks.put(self._END)

    def _take(self, deadline: float) -> bool:
        """Take one chunk; False when the stream has ended."""
        if self.ended:
            return False
        try:
            item = self._chunks.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"the log stream gave nothing more in time; so far: {self.text!r}")
        if item is self._END:
            self.ended = True
            return False
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, str)
        self.text += item
        return True

    def until(self, needle: str, timeout: float = 15.0) -> str:
        """Read until ``needle`` has been streamed; fail if the stream ends or stalls first."""
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if not self._take(deadline):
                pytest.fail(f"the log stream ended before {needle!r}; it gave {self.text!r}")
        return self.text

    def end(self, timeout: float = 15.0) -> str:
        """Read until the server ends the stream; the whole text."""
        deadline = time.monotonic() + timeout
        while self._take(deadline):
            pass
        self._thread.join(5)
        return self.text


class Site:
    """One calchub: a home, a port, a database, and the processes serving them."""

    def __init__(self, root: Path, database_url: str) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir(parents=True)
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CALCHUB_")},
            "CALCHUB_HOME": str(self.home),
            "CALCHUB_DATABASE_URL": database_url,
            "CALCHUB_LEASE_SECONDS": str(LEASE_SECONDS),
            "CALCHUB_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "CALCHUB_LOG_LEVEL": "info",
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
            "NO_COLOR": "1",
        }
        self.procs: list[Proc] = []
        self.server: Proc | None = None
        self.agent: Proc | None = None
        self._clients: list[Client] = []
        self._counts: dict[str, int] = {}

    # -- processes ------------------------------------------------------------

    def spawn(self, name: str, argv: list[str]) -> Proc:
        number = self._counts[name] = self._counts.get(name, 0) + 1
        label = f"{name}-{number}"
        proc = Proc(label, argv, self.env, self.root / f"{label}.log", self.root)
        self.procs.append(proc)
        return proc

    def start_server(self) -> Proc:
        self.server = self.spawn(
            "server",
            [sys.executable, "-m", "calchub.server", "--port", str(self.port), "--bootstrap"],
        )
        self.wait_healthy(self.server)
        return self.server

    def wait_healthy(self, proc: Proc) -> None:
        def healthy() -> bool:
            if not proc.alive():
                pytest.fail(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.output}")
            try:
                return httpx.get(f"{self.url}/api/v1/health", timeout=2).is_success
            except httpx.TransportError:
                return False

        eventually(healthy, START_SECONDS, f"{self.url}/api/v1/health")

    def start_agent(self, *extra: str) -> Proc:
        self.agent = self.spawn("agent", [*CALCHUB, "agent", *extra])
        self.agent.wait_for_line(r"calchub\.agent agent .* up:")
        return self.agent

    def up(self) -> Site:
        """A server and an agent, ready for work."""
        self.start_server()
        self.start_agent()
        return self

    def stop_server(self, sig: int = signal.SIGTERM) -> int:
        assert self.server is not None
        return self.server.stop(sig)

    # -- talking to it ----------------------------------------------------------

    @property
    def token(self) -> str:
        token: str = json.loads((self.home / "client.json").read_text())["token"]
        return token

    def client(self) -> Client:
        client = Client(self.url, self.token)
        self._clients.append(client)
        return client

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``calchub ARGS`` to its end and return what it printed (never raises on exit codes)."""
        return subprocess.run(
            [*CALCHUB, *args],
            env=self.env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cli_json(self, *args: str) -> Any:
        done = self.cli(*args, "--json")
        assert done.returncode == 0, f"calchub {' '.join(args)} --json failed:\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout)

    # -- clean-up ---------------------------------------------------------------

    def orphans(self) -> list[int]:
        """Processes still running with this site's home in their environment (runs of a dead agent)."""
        found = []
        for process in psutil.process_iter(["pid"]):
            try:
                if process.pid != os.getpid() and process.environ().get("CALCHUB_HOME") == str(self.home):
                    found.append(process.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def close(self) -> None:
        for client in self._clients:
            client.close()
        # Whatever the site started, however it ended: the groups, their children, and runs
        # orphaned by a killed agent or a killed `calchub up` (found by this site's home).
        stray = {pid for proc in self.procs for pid in proc.descendants()} | set(self.orphans())
        for proc in reversed(self.procs):
            proc.kill()
        for pid in stray:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            proc.reap()

    def dump(self) -> str:
        return "\n".join(f"----- {p.name} ({' '.join(p.argv[1:])}) -----\n{p.output}" for p in self.procs)


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """An empty database of the kind under test, which the server migrates itself on start.

    Overrides the shared fixture: acceptance starts from nothing, as a new site does.
    """
    return empty_database_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A database URL for the tests that run on SQLite only, to keep the tier fast."""
    return f"sqlite:///{tmp_path / 'calchub.db'}"


def _site(root: Path, database_url: str, request: pytest.FixtureRequest) -> Iterator[Site]:
    site = Site(root, database_url)
    try:
        yield site
    finally:
        site.close()
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(site.dump())


@pytest.fixture
def site(tmp_path: Path, database_url: str, request: pytest.FixtureRequest) -> Iterator[Site]:
    """A site (not yet started) on each database under test."""
    yield from _site(tmp_path / "site", database_url, request)


@pytest.fixture
def local_site(tmp_path: Path, sqlite_url: str, request: pytest.FixtureRequest) -> Iterator[Site]:
    """A site (not yet started) on SQLite."""
    yield from _site(tmp_path / "site", sqlite_url, request)


@pytest.fixture
def running(local_site: Site) -> Site:
    """A started SQLite site: server and agent up."""
    return local_site.up()


# -- the browser ---------------------------------------------------------------


@dataclass
class BrowserLog:
    """What a page said and tried while the test ran: console lines, uncaught errors, off-site requests."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    offsite: list[str] = field(default_factory=list)

    def dump(self) -> str:
        parts = [("console", self.console), ("uncaught errors", self.errors), ("blocked", self.offsite)]
        return "\n".join(f"----- browser {name} -----\n" + "\n".join(lines) for name, lines in parts if lines)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; skips when it or Playwright is missing.

    One per test (0.5 s), not per session: while Playwright's sync API runs, its event loop
    counts as running in this thread, so every later ``asyncio.run`` in the same xdist worker
    (the integration tests) would fail. For the same reason a browser test calls no ``asyncio.run``.
    """
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is not installed: run scripts/ensure-chromium as root (apt-get install chromium)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed: pip install -e '.[dev]'"
    )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser_log() -> BrowserLog:
    """The console, errors and blocked requests of this test's ``browser_page``."""
    return BrowserLog()


@pytest.fixture
def browser_page(browser: Browser, browser_log: BrowserLog, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page in its own context; off-site requests are aborted; a screenshot is saved at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    context.route(OFFSITE_URL, lambda route: _block(route, browser_log))
    page = context.new_page()
    page.on("console", lambda message: browser_log.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: browser_log.errors.append(str(error)))
    try:
        yield page
    finally:
        _screenshot(page, request.node.name)
        context.close()
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(browser_log.dump())


def labelled(page: Page) -> None:
    """Every visible form field of the page has a label."""
    assert page.evaluate(UNLABELLED) == [], f"unlabelled form fields on {page.url}"


def sign_in(page: Page, site: Site, username: str, then: str = "/") -> None:
    """Open ``then``, sign in on the page it sends you to, and wait to be back on ``then``."""
    page.goto(f"{site.url}{then}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(site.url + then) + "$"))


def _block(route: Route, log: BrowserLog) -> None:
    log.offsite.append(f"{route.request.method} {route.request.url}")
    route.abort("blockedbyclient")


def _screenshot(page: Page, test_name: str) -> None:
    """``test-artifacts/screenshots/<test name>.png``; a page that cannot be drawn leaves none."""
    from playwright.sync_api import Error

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", test_name)
    with contextlib.suppress(Error):
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def slurm_cluster(site: Site, **slurm: Any) -> None:
    """A Slurm cluster ``hpc`` with no agent, but the partition table of one heartbeat (``debug``,
    the default, and ``long``): its scripts and partitions are shown, nothing runs on it."""
    admin = site.client()
    settings = {"partitions": ["debug", "long"], "default_partition": "debug"} | slurm
    admin.register_cluster("hpc", "the lab's Slurm cluster", executor="slurm", slurm=settings)
    key = admin.issue_agent_key("hpc").key
    partitions = [
        {
            "name": "debug",
            "state": "up",
            "default": True,
            "cpus_total": 8,
            "cpus_idle": 8,
            "time_limit": "1:00:00",
        },
        {"name": "long", "state": "up", "cpus_total": 256, "cpus_idle": 192, "time_limit": "7-00:00:00"},
    ]
    beat = {"agent": "login1", "version": "0", "host": "login1", "executor": "slurm", "cores": 256}
    beat |= {"running": 0, "root": "/scratch/calchub", "partitions": partitions}
    answer = httpx.post(
        f"{site.url}/api/v1/agent/heartbeat", json=beat, headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200, answer.text
