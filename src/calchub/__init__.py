"""calchub: a self-hosted calculation service for research groups.

The public surface is small: :class:`Client` and its errors. Everything else
lives in subpackages (see ``docs/architecture.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["CalchubError", "Client", "__version__"]

if TYPE_CHECKING:
    from calchub.client import CalchubError, Client


def __getattr__(name: str) -> Any:
    # The client pulls in httpx; keep `import calchub` itself cheap.
    if name in {"Client", "CalchubError"}:
        import calchub.client as client

        return getattr(client, name)
    raise AttributeError(name)
