"""Send one message over SMTP, with the standard library.

``send`` opens a connection, secures it (implicit TLS, or STARTTLS, which it insists on when
asked for), logs in when there is a username, hands the message over, and says goodbye. The
one exception it raises is :class:`SendFailed`, whose ``retry`` tells the outbox whether
trying again later may help:

- retry: the server cannot be reached, is slow, hangs up, or answers 4xx (try later);
- do not: the server answers 5xx (a sender, a recipient or the message refused, the login
  refused), its certificate is not trusted, it does not offer STARTTLS or login when they are
  needed, or the message cannot be written (a header with a line break).

The ``Message-ID`` is made from the envelope's ``message_id``, so a message sent again after a
failure that came too late (the server took it but the answer was lost) carries the same id,
and a receiving server or reader can tell it is a repeat.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal

from calchub.server.notify.messages import Message

__all__ = ["Envelope", "SendFailed", "SmtpSettings", "compose", "send"]

#: Headers ``send`` writes itself; an envelope's extra headers may not set them.
OWN_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "auto-submitted", "x-auto-response-suppress"}
)
_NOT_ATOM = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")


class SendFailed(Exception):
    """The message was not sent; ``retry`` says whether sending it again later may succeed.

    ``code`` is the server's reply code when it gave one.
    """

    def __init__(self, message: str, retry: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.code = code


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send: ``security`` "tls" is TLS from the first byte (port 465 usually),
    "starttls" upgrades a plain connection (port 587), "none" sends in clear (a local relay)."""

    host: str
    port: int
    security: Literal["starttls", "tls", "none"]
    username: str | None
    password: str | None = field(repr=False)
    sender: str
    timeout: float = 10.0


@dataclass(frozen=True)
class Envelope:
    """A message to its recipients; ``message_id`` is the stable left part of its Message-ID."""

    to: tuple[str, ...]
    message: Message
    message_id: str
    headers: Mapping[str, str] = field(default_factory=dict)


def send(settings: SmtpSettings, envelope: Envelope, context: ssl.SSLContext | None = None) -> None:
    """Send ``envelope`` through the server of ``settings``, or raise :class:`SendFailed`.

    ``context`` checks the server's certificate (the system's trusted ones when None).
    """
    if not envelope.to:
        raise SendFailed("a message needs at least one recipient", retry=False)
    try:
        email = compose(settings, envelope)
    except ValueError as error:
        raise SendFailed(f"the message cannot be written: {error}", retry=False) from error
    try:
        _deliver(settings, envelope, email, context or ssl.create_default_context())
    except SendFailed:
        raise
    except smtplib.SMTPRecipientsRefused as error:
        raise _refused(error.recipients) from error
    except smtplib.SMTPResponseException as error:
        raise _answered(error.smtp_code, error.smtp_error) from error
    except smtplib.SMTPServerDisconnected as error:
        raise SendFailed(f"the mail server hung up: {error}", retry=True) from error
    except smtplib.SMTPException as error:
        raise SendFailed(f"the mail server cannot take it: {error}", retry=False) from error
    except ssl.SSLCertVerificationError as error:
        raise SendFailed(f"the mail server's certificate is not trusted: {error}", retry=False) from error
    except OSError as error:
        where = f"{settings.host}:{settings.port}"
        raise SendFailed(f"cannot reach the mail server at {where}: {error}", retry=True) from error


def compose(settings: SmtpSettings, envelope: Envelope) -> EmailMessage:
    """The message as it goes on the wire: plain text and HTML as alternatives, and the headers.

    Raises ValueError for a header that cannot be written (a line break in it, or one of ours).
    """
    email = EmailMessage()
    email["From"] = settings.sender
    email["To"] = ", ".join(envelope.to)
    email["Subject"] = envelope.message.subject
    email["Date"] = format_datetime(datetime.now(UTC))
    email["Message-ID"] = message_id(envelope.message_id, settings.sender)
    # RFC 3834: no out-of-office replies to a machine; Exchange reads its own header.
    email["Auto-Submitted"] = "auto-generated"
    email["X-Auto-Response-Suppress"] = "All"
    for name, value in envelope.headers.items():
        if name.lower() in OWN_HEADERS:
            raise ValueError(f"the header {name} is written by send itself")
        email[name] = value
    email.set_content(envelope.message.text)
    email.add_alternative(envelope.message.html, subtype="html")
    return email


def message_id(key: str, sender: str) -> str:
    """``<key@domain>`` with the sender's domain; the same key gives the same id."""
    local = _NOT_ATOM.sub("-", key).strip(".")
    local = re.sub(r"\.{2,}", ".", local) or "calchub"
    domain = parseaddr(sender)[1].rpartition("@")[2] or "calchub.invalid"
    return f"<{local}@{domain}>"


def _deliver(
    settings: SmtpSettings, envelope: Envelope, email: EmailMessage, context: ssl.SSLContext
) -> None:
    smtp = _connect(settings, context)
    try:
        if settings.security == "starttls":
            _start_tls(smtp, context)
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        refused = smtp.send_message(email, parseaddr(settings.sender)[1], list(envelope.to))
    finally:
        _close(smtp)
    if refused:
        raise _refused(refused, some=True)


def _connect(settings: SmtpSettings, context: ssl.SSLContext) -> smtplib.SMTP:
    if settings.security == "tls":
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)


def _start_tls(smtp: smtplib.SMTP, context: ssl.SSLContext) -> None:
    """STARTTLS, refusing to go on in clear when the server does not offer it."""
    smtp.ehlo()
    if not smtp.has_extn("starttls"):
        raise SendFailed("the mail server does not offer STARTTLS; not sending in clear", retry=False)
    smtp.starttls(context=context)
    smtp.ehlo()


def _close(smtp: smtplib.SMTP) -> None:
    """Say goodbye; the message is already sent or not, so a failure here changes nothing."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


def _refused(recipients: Mapping[str, tuple[int, bytes]], some: bool = False) -> SendFailed:
    """Recipients the server refused: worth a retry only if every refusal was temporary."""
    said = "; ".join(f"{to}: {code} {_text(reply)}" for to, (code, reply) in recipients.items())
    codes = [code for code, _ in recipients.values()]
    lead = "the mail server refused some recipients (the others got it)" if some else "refused"
    return SendFailed(f"{lead}: {said}", retry=all(400 <= c < 500 for c in codes), code=max(codes))


def _answered(code: int, reply: bytes | str) -> SendFailed:
    """A reply code: 5xx is final, anything else (4xx, or no proper code) may pass later."""
    said = f"the mail server answered {code} {_text(reply)}"
    return SendFailed(said, retry=not 500 <= code < 600, code=code)


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
