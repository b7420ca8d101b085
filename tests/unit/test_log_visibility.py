"""Who sees which entry of the log feed, as domain.permissions says, and the levels' order."""

from __future__ import annotations

import pytest

from calchub.contracts.activity import LEVELS, at_least
from calchub.domain.permissions import ROLE_ACTIONS, Action, Role, log_scope

MINE, THEIRS, CLUSTER = 1, 2, 7

#: Written out independently of the code: (project, cluster) of an entry -> who sees it.
#: A user belongs to project MINE only.
EXPECTED = {
    "my project's": ((MINE, CLUSTER), {Role.USER: True, Role.MODERATOR: True, Role.ADMIN: True}),
    "my project's, no cluster": ((MINE, None), {Role.USER: True, Role.MODERATOR: True, Role.ADMIN: True}),
    "another project's": ((THEIRS, CLUSTER), {Role.USER: False, Role.MODERATOR: True, Role.ADMIN: True}),
    "a cluster's alone": ((None, CLUSTER), {Role.USER: True, Role.MODERATOR: True, Role.ADMIN: True}),
    "the service's": ((None, None), {Role.USER: False, Role.MODERATOR: True, Role.ADMIN: True}),
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("entry", list(EXPECTED))
def test_each_role_sees_the_entries_described(entry: str, role: Role) -> None:
    (project_id, cluster_id), seen_by = EXPECTED[entry]
    mine = {MINE} if role is Role.USER else set()
    assert log_scope(role, mine).sees(project_id, cluster_id) is seen_by[role]


def test_a_user_in_no_project_sees_only_the_clusters_entries() -> None:
    scope = log_scope(Role.USER, [])
    assert scope.sees(None, CLUSTER)
    assert not scope.sees(MINE, CLUSTER) and not scope.sees(MINE, None)
    assert not scope.sees(None, None)


def test_the_scope_names_the_projects_and_whether_it_sees_every_one() -> None:
    user = log_scope("user", [3, 1, 3])
    assert (user.every_project, user.projects, user.service) == (False, frozenset({1, 3}), False)
    admin = log_scope("admin", [])
    assert (admin.every_project, admin.service) == (True, True)


def test_everyone_signed_in_may_read_the_feed_and_only_admins_delete_from_it() -> None:
    assert all(Action.LOGS_READ in ROLE_ACTIONS[role] for role in Role)
    assert [role for role in Role if Action.LOGS_DELETE in ROLE_ACTIONS[role]] == [Role.ADMIN]


@pytest.mark.parametrize(
    ("level", "kept"),
    [
        ("debug", ["debug", "info", "warning", "error"]),
        ("info", ["info", "warning", "error"]),
        ("warning", ["warning", "error"]),
        ("error", ["error"]),
    ],
)
def test_a_level_keeps_itself_and_the_more_urgent(level: str, kept: list[str]) -> None:
    assert at_least(level) == kept  # type: ignore[arg-type]
    assert LEVELS[-1] == "error"
