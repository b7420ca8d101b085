"""Access tokens: short-lived JWTs signed with the server's key (HS256).

An access token names its user (``sub``), the sign-in session it came from
(``sid``, the refresh token family) and when it was issued. A signature and
an expiry are not enough to trust it: the caller check also looks up the user
(blocked?) and the session (ended?).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from calchub.server.services.errors import Unauthorized

ALGORITHM = "HS256"
AUDIENCE = "calchub"


@dataclass(frozen=True)
class Claims:
    user_id: int
    session: str
    issued_at: datetime
    expires_at: datetime


def looks_like_jwt(secret: str) -> bool:
    return secret.count(".") == 2 and secret.startswith("eyJ")


def issue(key: str, user_id: int, session: str, lifetime: timedelta, at: datetime) -> str:
    claims = {
        "sub": str(user_id),
        "sid": session,
        "iat": int(at.timestamp()),
        "exp": int((at + lifetime).timestamp()),
        "aud": AUDIENCE,
        "typ": "access",
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def verify(key: str, token: str) -> Claims:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["sub", "sid", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized(
            "the access token has expired: refresh it (POST /auth/refresh) or sign in"
        ) from None
    except jwt.InvalidTokenError:
        raise Unauthorized("the access token is not valid: sign in again") from None
    if claims.get("typ") != "access" or not str(claims["sub"]).isdigit():
        raise Unauthorized("this is not an access token: sign in again")
    return Claims(
        int(claims["sub"]),
        str(claims["sid"]),
        datetime.fromtimestamp(claims["iat"], UTC),
        datetime.fromtimestamp(claims["exp"], UTC),
    )
