"""The permission table of domain.permissions, as the users described the roles."""

from __future__ import annotations

import pytest

from calchub.domain.permissions import (
    READ_ONLY,
    ROLE_ACTIONS,
    Action,
    ProjectRole,
    Role,
    allows,
    may_cancel_calculation,
    may_change_calculation,
    may_manage_members,
    may_moderate,
    scope_allows,
)

#: Written out independently of the code: who may do what.
MODERATOR_ONLY = {
    Action.CALCULATIONS_APPROVE,
    Action.PRIORITY_RAISE,
    Action.PROJECTS_SEE_ALL,
    Action.USERS_READ,
    Action.USERS_BLOCK,
    Action.USERS_PASSWORD,
}
ADMIN_ONLY = {
    Action.USERS_MANAGE,
    Action.PROJECTS_MANAGE,
    Action.CLUSTERS_MANAGE,
    Action.SESSIONS_REVOKE_ALL,
    Action.LOGS_DELETE,
    Action.MODELS_DELETE,
}


@pytest.mark.parametrize("action", list(Action))
def test_each_role_has_exactly_the_actions_described(action: Action) -> None:
    expected = {
        Role.ADMIN: True,
        Role.MODERATOR: action not in ADMIN_ONLY,
        Role.USER: action not in ADMIN_ONLY | MODERATOR_ONLY,
    }
    assert {role: allows(role, action) for role in Role} == expected


def test_roles_nest_user_within_moderator_within_admin() -> None:
    assert ROLE_ACTIONS[Role.USER] < ROLE_ACTIONS[Role.MODERATOR] < ROLE_ACTIONS[Role.ADMIN]
    assert ROLE_ACTIONS[Role.ADMIN] == frozenset(Action)


def test_moderators_block_and_reset_users_but_not_moderators_or_admins() -> None:
    assert may_moderate(Role.MODERATOR, Role.USER)
    assert not may_moderate(Role.MODERATOR, Role.MODERATOR)
    assert not may_moderate(Role.MODERATOR, Role.ADMIN)
    assert all(may_moderate(Role.ADMIN, target) for target in Role)
    assert not any(may_moderate(Role.USER, target) for target in Role)


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("action", list(Action))
def test_a_read_only_token_only_reads(method: str, action: Action) -> None:
    assert scope_allows("full", action, method)
    assert scope_allows("read", action, method) == (method in {"GET", "HEAD"} and action in READ_ONLY)


def test_calculations_are_changed_by_owner_manager_or_admin_and_also_cancelled_by_moderators() -> None:
    member, manager = ProjectRole.MEMBER, ProjectRole.MANAGER
    assert may_change_calculation(Role.USER, owner=True, project_role=member)
    assert may_change_calculation(Role.USER, owner=False, project_role=manager)
    assert not may_change_calculation(Role.USER, owner=False, project_role=member)
    assert not may_change_calculation(Role.MODERATOR, owner=False, project_role=None)
    assert may_change_calculation(Role.ADMIN, owner=False, project_role=None)
    assert may_cancel_calculation(Role.MODERATOR, owner=False, project_role=None)
    assert not may_cancel_calculation(Role.USER, owner=False, project_role=member)


def test_members_are_managed_by_the_projects_managers_and_admins() -> None:
    assert may_manage_members(Role.USER, ProjectRole.MANAGER)
    assert not may_manage_members(Role.USER, ProjectRole.MEMBER)
    assert not may_manage_members(Role.MODERATOR, None)
    assert may_manage_members(Role.ADMIN, None)


def test_the_matrix_in_docs_security_md_is_the_one_in_the_code() -> None:
    from pathlib import Path

    doc = Path(__file__).parents[2] / "docs" / "security.md"
    rows = {}
    for line in doc.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("`") and cells[0].strip("`") in set(Action):
            rows[Action(cells[0].strip("`"))] = [c == "yes" for c in cells[2:]]
    assert set(rows) == set(Action), "every action has its row"
    for action, (user, moderator, admin, read_only) in rows.items():
        assert [user, moderator, admin] == [allows(role, action) for role in Role], action
        assert read_only == (action in READ_ONLY), action
