"""The signature of a webhook's body (``notify.webhooks``) and the check of a webhook's URL."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import ValidationError

from calchub.contracts.webhooks import WebhookCreate
from calchub.server.notify.webhooks import SIGNATURE_HEADER, headers, sign, verify

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"


def test_the_signature_is_the_hex_hmac_sha256_of_the_body_as_github_writes_it() -> None:
    # The example of GitHub's documentation, so receivers written for it check ours the same way.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(SECRET, BODY) == expected
    assert sign(SECRET, BODY) == "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()


def test_a_signature_verifies_with_its_secret_and_body() -> None:
    assert verify(SECRET, BODY, sign(SECRET, BODY))
    assert verify(SECRET, BODY, f" {sign(SECRET, BODY)}\r\n")  # as a header may arrive


@pytest.mark.parametrize(
    "body",
    [b"Hello, World?", b"Hello, World! ", b"", BODY + b"\n", b'{"kind": "calculation.failed"}'],
)
def test_a_tampered_body_fails(body: bytes) -> None:
    assert not verify(SECRET, body, sign(SECRET, BODY))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        sign("another secret", BODY),
        sign(SECRET, BODY).removeprefix("sha256="),  # the hex alone
        sign(SECRET, BODY).replace("sha256=", "sha1="),
        sign(SECRET, BODY).upper(),
        "sha256=é",
    ],
)
def test_a_wrong_missing_or_mangled_signature_fails(header: str | None) -> None:
    assert not verify(SECRET, BODY, header)


def test_the_headers_carry_the_signature_event_delivery_and_who_sends() -> None:
    import calchub

    sent = headers(SECRET, BODY, event="calculation.failed", delivery="delivery-7")
    assert sent[SIGNATURE_HEADER] == sign(SECRET, BODY)
    assert sent["X-Calchub-Event"] == "calculation.failed"
    assert sent["X-Calchub-Delivery"] == "delivery-7"
    assert sent["Content-Type"] == "application/json"
    assert sent["User-Agent"] == f"calchub/{calchub.__version__}"


@pytest.mark.parametrize(
    "url",
    [
        "https://chat.example.org/hooks/abc?key=1",
        "http://10.0.0.5:8080/calchub",
        "HTTPS://Chat.Example.org",
        "https://[::1]:8443/hook",
    ],
)
def test_http_and_https_urls_are_taken_as_given(url: str) -> None:
    assert WebhookCreate(url=url).url == url
    assert WebhookCreate(url=url).level == "info"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("ftp://files.example.org/drop", "https:// or http://"),
        ("file:///etc/passwd", "https:// or http://"),
        ("javascript:alert(1)", "https:// or http://"),
        ("chat.example.org/hook", "https:// or http://"),
        ("https://user:pass@chat.example.org/hook", "user name or password"),
        ("https://user@chat.example.org/hook", "user name or password"),
        ("https://@chat.example.org/hook", "user name or password"),
        ("https:///hook", "must name a host"),
        ("https://chat.example.org:99999/hook", "not a URL"),
        ("https://chat.example.org/a hook", "spaces"),
        ("https://chat.example.org/hook\r\nX-Evil: 1", "control characters"),
        ("https://chat.example.org\\@evil.example/", "backslashes"),
        ("https://[::1/hook", "not a URL"),
        ("https://chat.example.org/" + "a" * 2000, "at most 2000"),
    ],
)
def test_other_schemes_credentials_and_unusable_urls_are_refused(url: str, said: str) -> None:
    with pytest.raises(ValidationError, match=said) as refused:
        WebhookCreate(url=url)
    assert refused.value.errors()[0]["loc"] == ("url",)


def test_a_level_is_info_or_error() -> None:
    assert WebhookCreate(url="https://x.example", level="error").level == "error"  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        WebhookCreate(url="https://x.example", level="none")  # type: ignore[arg-type]
