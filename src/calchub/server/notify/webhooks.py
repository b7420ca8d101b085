"""Send one notice to a webhook: a signed JSON POST, with httpx.

The body is signed with the webhook's secret, HMAC-SHA256 over the exact bytes sent, in the
header ``X-Calchub-Signature-256: sha256=<hex>`` (the form GitHub uses, so receivers written for
it need only the header's name changed). A receiver recomputes it with :func:`verify`.

``X-Calchub-Delivery`` names the delivery and is the same on every retry, so a receiver that
took a POST whose answer was lost can drop the repeat. Redirects are not followed: a webhook
answering 3xx has moved, and its URL should be changed where it was registered.

The one exception :func:`post` raises is :class:`SendFailed` (the email channel's), whose
``retry`` tells the outbox whether trying again later may help:

- retry: the receiver cannot be reached, hangs up or is slow (a timeout), or answers 5xx, 408
  (request timeout) or 429 (too many requests);
- do not: any other 3xx or 4xx (the URL is wrong, gone, or refuses the request: trying the same
  again gets the same), its TLS certificate is not trusted, or the URL cannot be used.
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
from urllib.parse import urlsplit, urlunsplit

import httpx

import calchub
from calchub.server.notify.smtp import SendFailed

__all__ = ["SIGNATURE_HEADER", "SendFailed", "post", "sign", "verify"]

SIGNATURE_HEADER = "X-Calchub-Signature-256"
EVENT_HEADER = "X-Calchub-Event"
DELIVERY_HEADER = "X-Calchub-Delivery"
#: Answers that say "not now": worth trying again later.
_TRY_LATER = frozenset({408, 429})


def sign(secret: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``body`` keyed with ``secret`` (UTF-8)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (the value of ``X-Calchub-Signature-256``) signs ``body`` with ``secret``.

    Compared in constant time, so a forger learns nothing from how long a refusal takes.
    """
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def headers(secret: str, body: bytes, *, event: str, delivery: str) -> dict[str, str]:
    """The headers of a webhook POST."""
    return {
        "Content-Type": "application/json",
        "User-Agent": f"calchub/{calchub.__version__}",
        SIGNATURE_HEADER: sign(secret, body),
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery,
    }


def post(url: str, secret: str, body: bytes, *, event: str, delivery: str, timeout: float = 10.0) -> None:
    """POST ``body`` (JSON) to ``url``, signed with ``secret``, or raise :class:`SendFailed`.

    ``event`` is the notice's kind (``calculation.failed``), ``delivery`` the delivery's stable
    id. 2xx is success; the answer's body is not read.
    """
    where = _shown(url)
    sent = headers(secret, body, event=event, delivery=delivery)
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False) as http,
            http.stream("POST", url, content=body, headers=sent) as answer,
        ):
            status, moved_to = answer.status_code, answer.headers.get("location")
    except httpx.TimeoutException as error:
        raise SendFailed(f"{where} did not answer within {timeout:g} s", retry=True) from error
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
        raise SendFailed(f"{where} cannot be used: {error}", retry=False) from error
    except httpx.TransportError as error:
        raise _unreachable(where, error) from error
    if not 200 <= status < 300:
        raise _answered(where, status, moved_to)


def _answered(where: str, status: int, moved_to: str | None) -> SendFailed:
    if 300 <= status < 400:
        also = f" (redirects are not followed; it points to {_shown(moved_to)})" if moved_to else ""
        return SendFailed(f"{where} answered {status}{also}", retry=False, code=status)
    retry = status >= 500 or status in _TRY_LATER
    return SendFailed(f"{where} answered {status}", retry=retry, code=status)


def _unreachable(where: str, error: httpx.TransportError) -> SendFailed:
    """A connection that failed: worth a retry, unless the receiver's certificate is not trusted."""
    cause: BaseException | None = error
    for _ in range(10):  # the chain httpx -> httpcore -> ssl is short; never follow a loop
        if cause is None:
            break
        if isinstance(cause, ssl.SSLCertVerificationError):
            said = cause.verify_message or str(cause)
            return SendFailed(f"{where}: its TLS certificate is not trusted ({said})", retry=False)
        cause = cause.__cause__ or cause.__context__
    return SendFailed(f"cannot reach {where}: {str(error) or type(error).__name__}", retry=True)


def _shown(url: str) -> str:
    """The URL for messages and logs, without its query, which may carry a key."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the webhook's URL"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
