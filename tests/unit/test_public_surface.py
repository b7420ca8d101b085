"""What `import calchub` offers is exactly what its `__all__` says."""

import calchub
import calchub.client


def test_every_public_name_exists() -> None:
    for module in (calchub, calchub.client):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == [], f"{module.__name__}.__all__ names what it lacks: {missing}"


def test_the_top_level_is_the_client_and_its_errors() -> None:
    assert set(calchub.__all__) == {"CalchubError", "Client", "__version__"}
    assert calchub.Client is calchub.client.Client


def test_errors_share_one_root() -> None:
    for name in calchub.client.__all__:
        thing = getattr(calchub.client, name)
        if isinstance(thing, type) and issubclass(thing, Exception):
            assert issubclass(thing, calchub.CalchubError), name
