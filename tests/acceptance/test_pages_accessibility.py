"""Every page in a real browser, walked for basic accessibility, with a screenshot of each.

A realistic site (an admin, a moderator and a plain user; a group project and one whose
calculations wait for approval; typed calculations with results and a figure, a plain
command, one that failed and one waiting for approval; a swept two-step pipeline; a second,
Slurm, cluster; a served model, running) is walked page by page, as the admin and then as
the plain user. On every page:

- every form field has a label (``UNLABELLED``), no id is used twice and every ``for``,
  ``aria-describedby`` and ``aria-labelledby`` names an element that is there;
- every visible control is reached by Tab from the page's start, and nothing clickable is
  kept out of the Tab order (``tabindex="-1"``, an ``onclick``, a clickable role or a
  pointer cursor on something that cannot take focus); no select acts as it changes (the
  arrow keys change a select, so its first step would leave the page);
- every button and link has a name, every image its alt text, every chart
  ``role="img"`` with a label;
- one ``h1``, and ``<html lang>``;
- the browser said no error.

The problems of every page are gathered and reported together. Each page leaves
``test-artifacts/screenshots/a11y-<page>.png`` (docs/images/clusters.png, cluster.png and
users.png are copies).

Plotly's own controls inside a drawn chart (its mode bar, its legend) are mouse-only and
are left out: the chart is one labelled image, and its numbers are in the results table and
the figure's SVG, both reachable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from calchub.client import Client
from tests.acceptance.conftest import (
    BROWSER_PASSWORD,
    SCREENSHOTS,
    UNLABELLED,
    BrowserLog,
    Site,
    sign_in,
    slurm_cluster,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow
#: A quick type with a table, a scalar with its error and unit, and a plot of the table.
DECAY = r"""
name: decay
version: "1"
title: Exponential decay
inputs:
  type: object
  properties:
    rate: {type: number, default: 0.5, exclusiveMinimum: 0}
files:
  run.sh: |
    awk -v rate={{ rate }} 'BEGIN {
      print "t signal"
      for (i = 0; i < 30; i++) { t = i * 0.2; printf "%g %g\n", t, 10 * exp(-rate * t) }
      printf "{\"half_life\": {\"value\": %g, \"unit\": \"s\", \"error\": 0.01}}\n",
        log(2) / rate > "summary.json"
    }'
command: [bash, run.sh]
extract:
  - table: {name: curve, file: stdout, header: t}
  - json: {file: summary.json, provides: [half_life]}
analyses:
  - name: plot
    needs: [curve]
    plot: {table: curve, x: t, y: [signal], name: decay, title: Signal}
"""
#: A served model (y = 2x + 1) for the model pages.
LINEAR = Path(__file__).parents[1] / "data" / "models" / "linear"
#: Plotly has drawn every chart and figure (or given up on one): the page is as it stays.
SETTLED = """() => [...document.querySelectorAll('[data-chart]')].every(e => e.dataset.drawn)
  && [...document.querySelectorAll('[data-plot-spec]')].every(e => e.dataset.plotted)"""
#: Checks what the page shows, and keeps its Tab stops (visible, focusable controls) for the walk.
AUDIT = """() => {
  const CONTROLS = 'a[href], button, input, select, textarea, summary, [tabindex], [contenteditable]';
  const NATIVE = 'a[href], button, input, select, textarea, summary';
  const ROLES = ['button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem', 'option', 'slider'];
  const CHARTS = '[data-chart], [data-plot-spec], .js-plotly-plot, canvas';
  const clean = (s) => (s || '').replace(/\\s+/g, ' ').trim();
  const shown = (e) => e.checkVisibility({visibilityProperty: true}) && e.getClientRects().length > 0;
  const tag = (e) => clean(e.outerHTML.slice(0, e.outerHTML.indexOf('>') + 1)).slice(0, 160);
  const said = (e) => tag(e) + (clean(e.textContent) ? ` "${clean(e.textContent).slice(0, 40)}"` : '');
  const labelledBy = (e) => clean((e.getAttribute('aria-labelledby') || '').split(/\\s+/)
    .map((id) => (document.getElementById(id) || {}).textContent || '').join(' '));
  const label = (e) => clean(e.getAttribute('aria-label')) || labelledBy(e);
  const name = (e) => label(e) || clean(e.innerText) || clean(e.getAttribute('title'))
    || clean([...e.querySelectorAll('img[alt], [role=img][aria-label]')]
         .map((i) => i.getAttribute('alt') || i.getAttribute('aria-label')).join(' '))
    || (e.matches('input') ? clean(e.value) : '');
  const plotly = (e) => e.closest('.js-plotly-plot') !== null;
  const clicks = (e) => e.hasAttribute('onclick') || typeof e.onclick === 'function';
  const sig = (e) => [e.tagName, e.id, e.getAttribute('name'), e.getAttribute('href'),
    e.getAttribute('aria-label'), e.form ? e.form.getAttribute('action') : '',
    e.matches('select') ? '' : clean(e.textContent).slice(0, 60)].join('|');
  const problems = [];
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) problems.push(`${h1} h1 elements, not one`);
  if (!clean(document.documentElement.lang)) problems.push('<html> has no lang');
  const named = 'a[href], button, summary, input[type=submit], input[type=button], input[type=reset], '
    + '[role=button], [role=link]';
  for (const e of document.querySelectorAll(named)) {
    if (shown(e) && !plotly(e) && !name(e)) problems.push(`no accessible name: ${said(e)}`);
  }
  const ids = [...document.querySelectorAll('[id]')].map((e) => e.id);
  for (const id of new Set(ids.filter((id, n) => ids.indexOf(id) !== n))) problems.push(`id="${id}" twice`);
  for (const e of document.querySelectorAll('[aria-describedby], [aria-labelledby], label[for]')) {
    const refs = ['aria-describedby', 'aria-labelledby', 'for']
      .flatMap((a) => clean(e.getAttribute(a)).split(' '));
    for (const id of refs.filter((id) => id && !document.getElementById(id))) {
      problems.push(`refers to no element: id "${id}" in ${tag(e)}`);
    }
  }
  for (const e of document.querySelectorAll('select[onchange]')) {
    problems.push(`a select that acts as it changes (the arrow keys change it): ${tag(e)}`);
  }
  for (const e of document.querySelectorAll('img')) {
    if (!e.hasAttribute('alt')) problems.push(`image with no alt: ${tag(e)}`);
  }
  for (const e of document.querySelectorAll(CHARTS)) {
    const box = e.closest('[role=img]');
    if (!box || !label(box)) problems.push(`chart not role="img" with a label: ${tag(e)}`);
  }
  // Plotly measures its text in an SVG of its own, off-screen.
  for (const e of document.querySelectorAll('svg:not(#js-plotly-tester)')) {
    if (!e.closest(CHARTS) && !e.closest('[aria-hidden=true]') && !label(e) && !e.querySelector('title')
        && !(e.closest(NATIVE) && name(e.closest(NATIVE)))) {
      problems.push(`svg with no text alternative: ${tag(e)}`);
    }
  }
  for (const e of document.querySelectorAll('body *')) {
    if (!shown(e) || plotly(e)) continue;
    const role = e.getAttribute('role');
    const clickable = e.matches(NATIVE) || clicks(e) || ROLES.includes(role);
    if (e.hasAttribute('tabindex') && e.tabIndex < 0 && clickable) {
      problems.push(`clickable, out of the Tab order (tabindex="${e.getAttribute('tabindex')}"): ${said(e)}`);
    } else if (clicks(e) && !e.matches(NATIVE)) {
      problems.push(`onclick on a <${e.tagName.toLowerCase()}>, not a button or link: ${said(e)}`);
    } else if (ROLES.includes(role) && !e.matches(NATIVE) && e.tabIndex < 0) {
      problems.push(`role=${role} that takes no focus: ${said(e)}`);
    } else if (getComputedStyle(e).cursor === 'pointer' && e.tabIndex < 0
               && !e.closest('a[href], button, summary, label, select')) {
      problems.push(`looks clickable (pointer) but takes no focus: ${said(e)}`);
    }
  }
  // A group of radio buttons is one Tab stop (the arrow keys move in it): its checked one, else its first.
  const group = (e) => e.type === 'radio' && e.name
    ? [...(e.form || document).querySelectorAll('input[type=radio]')].filter((r) => r.name === e.name) : [e];
  const first = (e) => { const g = group(e); return (g.find((r) => r.checked) || g[0]) === e; };
  const stops = [...document.querySelectorAll(CONTROLS)].filter((e) => shown(e) && !e.disabled
    && e.tabIndex >= 0 && !e.closest('[inert]') && !plotly(e) && first(e));
  const reached = new Set();
  document.addEventListener('focusin', (event) => reached.add(event.target), true);
  // A control swapped by a live update (the same link, new element) counts by what it is.
  const missed = () => {
    const seen = new Set([...reached].map(sig));
    const got = (e) => group(e).some((r) => reached.has(r)) || (!e.isConnected && seen.has(sig(e)));
    return stops.filter((e) => !got(e)).map(said);
  };
  window.__a11y = {missed};
  const segmented = stops.filter((e) => ['date', 'time', 'datetime-local', 'month', 'week'].includes(e.type));
  return {problems, stops: stops.length, presses: stops.length + 10 + 2 * segmented.length};
}"""


@dataclass
class Walk:
    """Visits pages one after another and gathers what is wrong on each."""

    page: Page
    site: Site
    log: BrowserLog
    problems: list[str] = field(default_factory=list)
    stops: dict[str, int] = field(default_factory=dict)

    def visit(self, name: str, path: str, status: int = 200) -> None:
        console, errors = len(self.log.console), len(self.log.errors)
        response = self.page.goto(self.site.url + path)
        assert response is not None and response.status == status, f"{path}: {response and response.status}"
        self.page.wait_for_function(SETTLED)
        found: list[str] = [f"unlabelled form field: {f}" for f in self.page.evaluate(UNLABELLED)]
        audit = self.page.evaluate(AUDIT)
        found += audit["problems"]
        self.page.screenshot(path=SCREENSHOTS / f"a11y-{name}.png", full_page=True)
        found += [f"not reached by Tab: {e}" for e in self._tab(audit["presses"])]
        # The browser says so when a page answers an error status: that one is expected.
        expected = f"error: Failed to load resource: the server responded with a status of {status} "
        said = self.log.console[console:]
        found += [f"console {s}" for s in said if s.startswith("error:") and not s.startswith(expected)]
        found += [f"uncaught error: {e}" for e in self.log.errors[errors:]]
        self.problems += [f"{name} ({path}): {p}" for p in found]
        self.stops[name] = audit["stops"]

    def _tab(self, presses: int) -> list[str]:
        """Tab from where the page starts, round and round, at most ``presses`` times (checking
        every 10): the stops never focused."""
        missed: list[str] = []
        for done in range(0, presses, 10):
            for _ in range(min(10, presses - done)):
                self.page.keyboard.press("Tab")
            missed = self.page.evaluate("window.__a11y.missed()")
            if not missed:
                break
        return missed


def _populate(site: Site) -> dict[str, int]:
    """People, projects, a second cluster and calculations in every end state: their ids by role."""
    admin = site.client()
    admin.create_project(
        "optics", description="lenses and mirrors", quotas={"max_queued": 10, "core_hours": 500}
    )
    admin.create_project("reviewed", description="work a moderator looks at first", requires_approval=True)
    admin.create_user("ada", password=BROWSER_PASSWORD, email="ada@lab.org", role="admin")
    admin.create_user("mo", password=BROWSER_PASSWORD, email="mo@lab.org", role="moderator")
    admin.create_user(
        "alice", password=BROWSER_PASSWORD, email="alice@lab.org", projects=["optics", "reviewed"]
    )
    slurm_cluster(site, account="optics")
    alice = site.client()
    alice.login("alice", BROWSER_PASSWORD)
    made = {
        "slow": alice.submit(type="decay", inputs={"rate": 0.3}, project="optics", name="slow decay"),
        "fast": alice.submit(type="decay", inputs={"rate": 0.9}, project="optics", name="fast decay"),
        "plain": alice.submit(["echo", "hello"], project="optics", name="hello"),
        "failed": alice.submit(
            ["sh", "-c", "echo 'no input.dat' >&2; exit 3"], project="optics", name="broken"
        ),
    }
    finished = alice.wait_all([c.id for c in made.values()], 30)
    assert [c.state for c in finished] == ["completed", "completed", "completed", "failed"], finished
    made["pending"] = alice.submit(["true"], project="reviewed", name="needs a look")
    ids = {role: calc.id for role, calc in made.items()}
    ids["study"] = _study(alice)
    ids["model"] = _model(alice)
    return ids


def _model(alice: Client) -> int:
    """alice's ``linear`` model in ``optics``, started and answering: its id."""
    alice.register_model(LINEAR, project="optics")
    alice.start_model("linear")
    model = alice.wait_model("linear", timeout=60)
    assert model.state == "healthy", (model.state, model.message, alice.model_logs("linear").text)
    return model.id


def _study(alice: Client) -> int:
    """A swept two-step pipeline of the ``python`` type, run to its end: its id."""
    step = {
        "type": "python",
        "inputs": {"code": "def main(x):\n    return {'y': x * x}\n", "function": "main"},
    }
    pipeline = {
        "parameters": {"x": 1},
        "steps": {
            "square": step | {"inputs": step["inputs"] | {"kwargs": {"x": "${x}"}}},
            "again": step | {"after": [{"step": "square", "results": {"kwargs.x": "y"}}]},
        },
    }
    made = alice.create_study(
        "squares",
        description="x squared, then squared again",
        project="optics",
        pipeline=pipeline,
        space={"product": [{"input": "x", "values": [1, 2, 3]}]},
    )
    done = alice.wait_all([c.id for c in alice.list(study="squares")], 60)
    assert [c.state for c in done] == ["completed"] * 6, [c.message for c in done]
    return made.id


def _site(local_site: Site) -> tuple[Site, dict[str, int]]:
    (local_site.home / "calctypes").mkdir()
    (local_site.home / "calctypes" / "decay.yaml").write_text(DECAY)
    site = local_site.up()
    return site, _populate(site)


def _problems(walk: Walk) -> str:
    return f"{len(walk.problems)} problems:\n" + "\n".join(walk.problems) + "\n" + walk.log.dump()


def test_every_page_an_admin_sees_has_labels_names_one_h1_and_every_control_reached_by_tab(
    local_site: Site, browser_page: Page, browser_log: BrowserLog
) -> None:
    site, ids = _site(local_site)
    types = {t.name for t in site.client().calctypes().items}
    walk = Walk(browser_page, site, browser_log)
    walk.visit("login", "/login")
    sign_in(browser_page, site, "ada")
    for name, path in [
        ("dashboard", "/"),
        ("calculations", "/calculations"),
        ("calculation", f"/calculations/{ids['slow']}"),
        ("calculation-failed", f"/calculations/{ids['failed']}"),
        ("calculation-pending", f"/calculations/{ids['pending']}"),
        ("new", "/calculations/new"),
        *([("new-bumps", "/calculations/new?type=bumps")] if "bumps" in types else []),
        ("compare", f"/compare?ids={ids['slow']},{ids['fast']},{ids['plain']}"),
        ("studies", "/studies"),
        ("study", f"/studies/{ids['study']}"),
        ("clusters", "/clusters"),
        ("cluster", "/clusters/local"),
        ("cluster-slurm", "/clusters/hpc"),
        ("models", "/models"),
        ("model", "/models/linear"),
        ("logs", "/logs"),
        ("notices", "/notices"),
        ("users", "/users"),
        ("projects", "/projects"),
        ("project", "/projects/optics"),
        ("settings", "/settings"),
    ]:
        walk.visit(name, path)
    assert all(walk.stops.values()), f"a page with nothing to reach: {walk.stops}"
    assert not walk.problems, _problems(walk)
    assert not browser_log.offsite, browser_log.dump()


def test_every_page_a_plain_user_sees_has_labels_names_one_h1_and_every_control_reached_by_tab(
    local_site: Site, browser_page: Page, browser_log: BrowserLog
) -> None:
    site, ids = _site(local_site)
    walk = Walk(browser_page, site, browser_log)
    sign_in(browser_page, site, "alice")
    for name, path in [
        ("dashboard", "/"),
        ("calculations", "/calculations"),
        ("calculation", f"/calculations/{ids['fast']}"),
        ("calculation-failed", f"/calculations/{ids['failed']}"),
        ("calculation-pending", f"/calculations/{ids['pending']}"),
        ("new", "/calculations/new"),
        ("compare", f"/compare?ids={ids['slow']},{ids['fast']}"),
        ("studies", "/studies"),
        ("study", f"/studies/{ids['study']}"),
        ("clusters", "/clusters"),
        ("cluster", "/clusters/local"),
        ("models", "/models"),
        ("model", "/models/linear"),
        ("logs", "/logs"),
        ("notices", "/notices"),
        ("projects", "/projects"),
        ("project", "/projects/optics"),
        ("settings", "/settings"),
    ]:
        walk.visit(f"user-{name}", path)
    walk.visit("user-users-forbidden", "/users", status=403)
    assert all(walk.stops.values()), f"a page with nothing to reach: {walk.stops}"
    assert not walk.problems, _problems(walk)
    assert not browser_log.offsite, browser_log.dump()
