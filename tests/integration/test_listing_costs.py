"""The pages that list people and projects cost a fixed number of queries, however many rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event

from calchub.client import Client
from calchub.server.hub import Hub
from calchub.server.services import people, projects
from calchub.server.settings import Settings


@contextmanager
def counting(hub: Hub) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(hub.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(hub.engine, "before_cursor_execute", count)


def test_users_and_projects_lists_cost_the_same_for_few_rows_as_for_many(
    settings: Settings, client: Client, make_user: Callable[..., Client]
) -> None:
    client.create_project("optics", quotas={"core_hours": 100})
    client.submit(["true"], project="optics")
    hub = Hub.from_settings(settings)
    admin = hub.user_for(client.create_token("count").token)

    def costs() -> tuple[int, int, int]:
        with hub.uow() as session:
            with counting(hub) as listed:
                people.find(session)
            with counting(hub) as searched:
                people.find(session, text="user", role="user", blocked=False)
            with counting(hub) as usage:
                projects.listing_with_usage(session, admin)
        return len(listed), len(searched), len(usage)

    try:
        few = costs()
        for n in range(12):
            make_user(f"user{n}")  # each with a personal project, which the admin sees too
            client.add_member("optics", f"user{n}")
        many = costs()
        with hub.uow() as session:
            assert len(people.find(session, text="USER1")) == 3, "user1, user10, user11: any case"
            assert people.find(session, text="%") == [], "a pattern's characters are plain text"
            assert len(projects.listing_with_usage(session, admin)) >= 14
    finally:
        hub.engine.dispose()
    assert few == many, f"queries for 1 user and 2 projects {few}, for 13 users and 15 projects {many}"
