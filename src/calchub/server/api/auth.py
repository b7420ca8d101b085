"""Logging in and personal API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from calchub.server.api.deps import CurrentUser, HubDep
from calchub.server.db.tables import now
from calchub.server.services import auth

router = APIRouter(tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    days: int = Field(30, ge=1, le=365)


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    days: int | None = Field(None, ge=1, le=3650, description="never expires when unset")


class Token(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenIssued(Token):
    token: str = Field(description="shown once")


class Me(BaseModel):
    id: int
    username: str
    role: str


def _token(record: object, secret: str | None = None) -> Token:
    fields = {k: getattr(record, k) for k in Token.model_fields}
    return TokenIssued(**fields, token=secret) if secret else Token(**fields)


@router.post("/auth/login", response_model=TokenIssued)
def login(hub: HubDep, body: Login) -> Token:
    with hub.uow() as session:
        record, secret = auth.login(session, body.username, body.password, body.days)
        return _token(record, secret)


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return Me(id=user.id, username=user.username, role=user.role)


@router.get("/tokens", response_model=list[Token])
def tokens(hub: HubDep, user: CurrentUser) -> list[Token]:
    with hub.uow() as session:
        return [_token(t) for t in auth.tokens_of(session, user)]


@router.post("/tokens", response_model=TokenIssued, status_code=status.HTTP_201_CREATED)
def create_token(hub: HubDep, user: CurrentUser, body: TokenCreate) -> Token:
    expires = now() + timedelta(days=body.days) if body.days else None
    with hub.uow() as session:
        record, secret = auth.issue_token(session, user.id, body.name, expires)
        return _token(record, secret)


@router.delete("/tokens/{token_id}", response_model=Token)
def revoke_token(hub: HubDep, user: CurrentUser, token_id: int) -> Token:
    with hub.uow() as session:
        revoked = _token(auth.revoke_token(session, user, token_id))
    hub.callers.clear()
    return revoked
