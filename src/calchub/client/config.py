"""Where the client finds its server and token: arguments, then env, then CALCHUB_HOME."""

from __future__ import annotations

import os

from calchub.client.errors import CalchubError
from calchub.contracts.local import CLIENT_FILE, ClientConfig, home_from_env


def resolve(url: str | None = None, token: str | None = None) -> tuple[str, str | None]:
    url = url or os.environ.get("CALCHUB_URL")
    token = token or os.environ.get("CALCHUB_TOKEN")
    saved = home_from_env() / CLIENT_FILE
    if (url is None or token is None) and saved.exists():
        config = ClientConfig.model_validate_json(saved.read_text())
        if url is None or url.rstrip("/") == config.url.rstrip("/"):
            url = url or config.url
            token = token or config.token
    if url is None:
        raise CalchubError(
            f"no server: run `calchub up`, or set CALCHUB_URL and CALCHUB_TOKEN (looked in {saved})"
        )
    return url.rstrip("/"), token
