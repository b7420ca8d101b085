"""What the CLI prints: user text is shown as written, never read as markup."""

import pytest
import typer

from calchub.cli import output


def test_user_text_in_tables_is_not_markup() -> None:
    with output.console.capture() as captured:
        output.table(None, ["name", "state"], [("scan[red]3[/red] [bold]", output.state("failed"))])
    text = captured.get()
    assert "scan[red]3[/red] [bold]" in text
    assert "failed" in text


def test_errors_keep_their_brackets() -> None:
    with output.errors.capture() as captured, pytest.raises(typer.Exit) as stop:
        output.fail("install it with pip install 'calchub[server]'")
    assert stop.value.exit_code == 1
    assert "calchub[server]" in captured.get()
