"""Telling people what happened: notices spread into deliveries, and deliveries sent by email.

A notice is written in the transaction of the change it tells of (``transitions``); nothing
here runs inside that transaction, so a mail server that is down never slows a calculation.
The server's notifier (``app``) calls :func:`spread` and :func:`send_due`:

- **Spread.** Each notice becomes one delivery per recipient, unique (notice, channel,
  recipient), so a notice spread twice is delivered once. The owner is told as their level
  says (``info``: every ending and start, ``error``: failed, invalid or lost only, ``none``);
  admins get every error; the addresses a calculation named at submit hear how it ended. A
  calculation of a sweep or a pipeline is not told of one by one: its study is, once, when its
  last calculation ends (``study.finished``, with the counts and the failures). A served model
  that failed too many times in a row (``model.failed``, written by the model supervisor) is
  told to its owner, as any error is.
- **No floods.** An error for someone who was sent one within ``digest_seconds`` waits for the
  end of that window, and the calculations' errors due together for one recipient go as one
  digest. A study's or a model's error waits as well, but goes as a message of its own: a
  digest lists calculations, and these have more to say (the study's counts, the model's log).
- **Send.** Due deliveries are taken in a short transaction that puts them off for a while (so
  another replica does not take them), sent outside it, then marked sent in another. A send
  that fails for now is tried again later, waiting longer each time; one refused for good (a
  5xx) is marked failed with the reason. A stop between sending and marking sends that one
  again after the put-off; its ``Message-ID`` is the same, so a mail server can tell.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from calchub.domain.states import TERMINAL
from calchub.server.db.tables import Calculation, Delivery, ModelVersion, Notice, Study, User, Webhook, now
from calchub.server.notify import messages, webhooks
from calchub.server.notify.smtp import Envelope, SendFailed, SmtpSettings, send
from calchub.server.repositories import notices as repo
from calchub.server.repositories import studies as study_repo
from calchub.server.services.notice_facts import Facts, message_of
from calchub.server.services.unit import wake
from calchub.server.storage import Store

log = logging.getLogger("calchub.server")
EMAIL, WEBHOOK, INAPP = "email", "webhook", "inapp"
#: The wake-up of live unread counts: an in-app notice arrived.
INBOX = "inbox"
#: Kinds of study that are told of as a whole, not one calculation at a time.
TOLD_AS_ONE = frozenset({"sweep", "pipeline"})
#: Endings a calculation's extra addresses hear of.
ENDINGS = frozenset(f"calculation.{s.value}" for s in TERMINAL)
#: How long deliveries taken for sending are put off, in case the sender stops.
IN_FLIGHT = timedelta(minutes=5)
#: After this long of failing, a delivery is given up (marked failed).
GIVE_UP = timedelta(days=3)
#: What a webhook's body calls the facts of what a notice tells of, by their kind.
_FACTS_KEY = {messages.StudyFacts: "study", messages.ModelFacts: "model"}


@dataclass(frozen=True)
class Mailer:
    """What the notifier needs to know: where mail goes, and how it paces itself."""

    smtp: SmtpSettings | None
    public_url: str
    digest_seconds: float = 60.0
    retry_seconds: float = 10.0


def spread(session: Session, mailer: Mailer, limit: int = 200) -> bool:
    """Turn up to ``limit`` notices into deliveries; whether there were any."""
    found = repo.unspread(session, limit)
    if not found:
        return False
    calcs = repo.calculations(session, [n.calculation_id for n in found if n.calculation_id])
    studies = {s.id: s for s in _studies_of(session, found, calcs)}
    models = repo.models(session, [n.model_id for n in found if n.model_id])
    named = {(s.project_id, s.name): s for s in studies.values()}
    owned: list[Calculation | Study | ModelVersion] = [*calcs.values(), *studies.values(), *models.values()]
    users = repo.users(session, [each.owner_id for each in owned])
    audience = _Audience(
        repo.admins(session), repo.webhooks_of(session, [n.project_id for n in found]), mailer
    )
    rows: list[dict[str, Any]] = []
    ended: dict[int, tuple[Study, datetime]] = {}  # studies whose calculations ended: the first ending
    for notice in found:
        notice.spread = True
        if notice.model_id is not None or notice.kind == "study.finished":  # told to its owner
            whole = models.get(notice.model_id) if notice.model_id else studies.get(notice.study_id or 0)
            if whole is not None:
                rows += audience.of(notice, users.get(whole.owner_id), [])
            continue
        calc = calcs.get(notice.calculation_id or 0)
        if calc is None:
            continue
        study = named.get((calc.project_id, calc.study or ""))
        if study is not None and study.kind in TOLD_AS_ONE:
            if notice.kind in ENDINGS:
                ended.setdefault(study.id, (study, notice.at))
            continue
        extra = list(calc.notify or []) if notice.kind in ENDINGS else []
        rows += audience.of(notice, users.get(calc.owner_id), extra)
    for study, first in ended.values():
        _maybe_finished(session, study, first)
    _held_for_digest(session, rows, mailer.digest_seconds)
    repo.add_deliveries(session, rows)
    session.flush()
    if any(r["channel"] == INAPP for r in rows):
        wake(session, INBOX)
    return True


def _studies_of(session: Session, found: Sequence[Notice], calcs: dict[int, Calculation]) -> list[Study]:
    by_id = [study_repo.by_id(session, n.study_id) for n in found if n.study_id]
    named = repo.studies_named(session, [(c.project_id, c.study) for c in calcs.values() if c.study])
    return [s for s in by_id if s is not None] + list(named.values())


def _maybe_finished(session: Session, study: Study, since: datetime) -> None:
    """The study's notice, if nothing of it is left to run (once per pass and study: a count of
    its unfinished calculations; a later ending after a retry makes another)."""
    if repo.unfinished_in(session, study) or repo.study_told_since(session, study.id, since):
        return
    failed = repo.failed_in(session, study, 1)
    session.add(
        Notice(
            at=now(),
            kind="study.finished",
            level="error" if failed else "info",
            study_id=study.id,
            project_id=study.project_id,
            spread=False,
        )
    )


@dataclass
class _Audience:
    """Who hears of a notice, and by which channel."""

    admins: Sequence[User]
    hooks: dict[int, list[Webhook]]
    mailer: Mailer

    def of(self, notice: Notice, owner: User | None, extra: Sequence[str]) -> list[dict[str, Any]]:
        """Its owner by email as their level says and in the app always; admins of errors; the
        extra addresses; the project's webhooks whose level admits it."""
        at = now()
        mails: dict[str, None] = {}
        readers: dict[int, None] = {}
        if owner is not None and owner.is_active:
            readers[owner.id] = None
            if owner.email and _wants(owner.notify_level, notice.level):
                mails[owner.email] = None
        if notice.level == "error":
            for admin in self.admins:
                readers[admin.id] = None
                if admin.email and admin.notify_level != "none":
                    mails[admin.email] = None
        mails |= dict.fromkeys(extra)
        pending = {
            "notice_id": notice.id,
            "level": notice.level,
            "state": "pending",
            "attempts": 0,
            "next_at": at,
        }
        rows: list[dict[str, Any]] = []
        if self.mailer.smtp is not None:
            rows += [pending | {"channel": EMAIL, "recipient": address} for address in mails]
        rows += [
            pending | {"channel": INAPP, "recipient": str(user_id), "state": "sent", "sent_at": at}
            for user_id in readers
        ]
        rows += [
            pending | {"channel": WEBHOOK, "recipient": str(hook.id)}
            for hook in self.hooks.get(notice.project_id, [])
            if hook.level == "info" or notice.level == "error"
        ]
        return rows


def _wants(chosen: str, level: str) -> bool:
    return chosen == "info" or (chosen == "error" and level == "error")


def _held_for_digest(session: Session, rows: list[dict[str, Any]], window: float) -> None:
    """An error for someone sent one within ``window`` waits for its end, to go with the others."""
    errors = [r for r in rows if r["level"] == "error" and r["channel"] == EMAIL]
    if not errors or window <= 0:
        return
    last = repo.last_sent(session, EMAIL, [r["recipient"] for r in errors], "error")
    for row in errors:
        sent = last.get(row["recipient"])
        if sent is not None and row["next_at"] - sent < timedelta(seconds=window):
            row["next_at"] = sent + timedelta(seconds=window)


@dataclass
class Outgoing:
    """Deliveries sent as one message (an email to one recipient, a webhook's POST)."""

    ids: list[int]
    send: Callable[[], None]
    #: What it is, for the log: the recipient or the webhook.
    to: str


def take_due(session: Session, store: Store, mailer: Mailer, limit: int = 100) -> list[Outgoing]:
    """Due deliveries, put off for ``IN_FLIGHT`` and made ready to send: an email per recipient
    (its errors gathered in a digest), a POST per webhook delivery."""
    at = now()
    due = repo.due(session, [EMAIL, WEBHOOK] if mailer.smtp is not None else [WEBHOOK], at, limit)
    if not due:
        return []
    repo.set_deliveries(session, [d.id for d in due], next_at=at + IN_FLIGHT)
    notices = repo.notices(session, [d.notice_id for d in due])
    facts = Facts(session, store, mailer.public_url, list(notices.values()))
    mails = [d for d in due if d.channel == EMAIL]
    hooks = [d for d in due if d.channel == WEBHOOK]
    return _emails(mails, notices, facts, mailer) + _posts(session, hooks, notices, facts)


def _emails(
    due: Sequence[Delivery], notices: dict[int, Notice], facts: Facts, mailer: Mailer
) -> list[Outgoing]:
    smtp = mailer.smtp
    assert smtp is not None or not due
    by_recipient: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in due:
        by_recipient[delivery.recipient].append(delivery)
    found = []
    for recipient, deliveries in by_recipient.items():
        # A digest lists calculations: a study's or a model's error goes alone, even if held with them.
        errors = [d for d in deliveries if d.level == "error" and notices[d.notice_id].calculation_id]
        singles = [d for d in deliveries if d not in errors or len(errors) == 1]
        if len(errors) > 1:
            gathered = [facts.calculation(notices[d.notice_id]) for d in errors]
            times = [notices[d.notice_id].at for d in errors]  # over a window, or piled up while down
            span = max((max(times) - min(times)).total_seconds(), mailer.digest_seconds, 60.0)
            found.append(_email(smtp, recipient, errors, messages.digest(gathered, span / 60)))
        for d in singles:
            found.append(_email(smtp, recipient, [d], facts.message(notices[d.notice_id])))
    return found


def _email(smtp: Any, recipient: str, deliveries: Sequence[Delivery], message: messages.Message) -> Outgoing:
    ids = sorted(d.id for d in deliveries)
    key = hashlib.sha256(f"{recipient} {ids}".encode()).hexdigest()[:16]
    envelope = Envelope(to=(recipient,), message=message, message_id=f"notice-{ids[0]}-{key}")
    return Outgoing(ids, lambda: send(smtp, envelope), recipient)


def _posts(
    session: Session, due: Sequence[Delivery], notices: dict[int, Notice], facts: Facts
) -> list[Outgoing]:
    hooks = repo.webhooks(session, [int(d.recipient) for d in due])
    found = []
    for delivery in due:
        hook = hooks.get(int(delivery.recipient))
        if hook is None:
            repo.set_deliveries(session, [delivery.id], state="failed", error="the webhook was removed")
            continue
        notice = notices[delivery.notice_id]
        body = json.dumps(_payload(notice, facts), default=str).encode()
        found.append(
            Outgoing(
                [delivery.id],
                functools.partial(
                    webhooks.post,
                    hook.url,
                    hook.secret,
                    body,
                    event=notice.kind,
                    delivery=f"delivery-{delivery.id}",
                ),
                hook.url,
            )
        )
    return found


def _payload(notice: Notice, facts: Facts) -> dict[str, Any]:
    """A notice as JSON for a webhook: what happened, a line to show, and the facts of what it
    tells of (``calculation``, ``study`` or ``model``)."""
    about = facts.of(notice)
    return {
        "id": notice.id,
        "kind": notice.kind,
        "level": notice.level,
        "at": notice.at.isoformat(),
        "text": message_of(about).subject.removeprefix("calchub: "),
        _FACTS_KEY.get(type(about), "calculation"): dataclasses.asdict(about),
    }


def deliver(outgoing: Outgoing) -> tuple[bool, str | None, bool]:
    """Send one message (outside any transaction): sent, the error, whether to try again."""
    try:
        outgoing.send()
    except SendFailed as error:
        return False, str(error), error.retry
    return True, None, False


def mark(
    session: Session, outgoing: Outgoing, sent: bool, error: str | None, retry: bool, mailer: Mailer
) -> None:
    at = now()
    if sent:
        repo.set_deliveries(session, outgoing.ids, state="sent", sent_at=at, error=None)
        return
    deliveries = repo.deliveries(session, outgoing.ids)
    told = repo.notices(session, [d.notice_id for d in deliveries])
    for delivery in deliveries:
        delivery.attempts += 1
        delivery.error = error
        if not retry or at - told[delivery.notice_id].at > GIVE_UP:
            delivery.state = "failed"
            continue
        wait = min(mailer.retry_seconds * 2 ** (delivery.attempts - 1), 600.0)
        delivery.next_at = at + timedelta(seconds=wait)
    session.flush()


def next_due(session: Session) -> datetime | None:
    return repo.next_due(session, [EMAIL, WEBHOOK])
