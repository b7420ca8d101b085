"""Every page's router, in the order they are matched (fixed paths before ``{calc_id}``)."""

from __future__ import annotations

from fastapi import APIRouter

from calchub.server.web import (
    calculation_list,
    calculation_page,
    cluster_pages,
    compare,
    dashboard,
    log_feed,
    model_pages,
    new_calculation,
    notice_pages,
    people_pages,
    settings_page,
    signin,
    study_pages,
    users_page,
)

ROUTERS: list[APIRouter] = [
    signin.router,
    dashboard.router,
    calculation_list.router,
    new_calculation.router,
    compare.router,
    study_pages.router,
    calculation_page.router,
    cluster_pages.router,
    model_pages.router,
    log_feed.router,
    notice_pages.router,
    people_pages.router,
    settings_page.router,
    users_page.router,
]
