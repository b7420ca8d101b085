"""calchub inbox: your notices (calculations that ended, studies that finished, models that
failed), newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from calchub.cli.output import connected, console, emit_json, table, when

if TYPE_CHECKING:
    from calchub.contracts.inbox import Notice

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
LEVEL_STYLE = {"info": "", "error": "red"}


def register(app: typer.Typer) -> None:
    app.command("inbox")(inbox)


def inbox(
    unread: Annotated[bool, typer.Option("--unread", help="only the notices not read yet")] = False,
    read_all: Annotated[
        bool, typer.Option("--read-all", help="then mark every notice read (those shown and any others)")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=200, help="how many")] = 50,
    json: JsonOpt = False,
) -> None:
    """Your notices, newest first; the unread ones are marked "new". Looking marks nothing."""
    with connected() as client:
        page = client.notices(unread=unread, limit=limit)
        marked = client.mark_read(all=True) if read_all else None
    if json:
        shown = page.model_dump(mode="json")
        emit_json(shown if marked is None else shown | marked.model_dump(mode="json"))
        return
    if not page.items:
        console.print(Text("no unread notices" if unread else "no notices"))
        return
    table(None, ["new", "when", "level", "what"], [_row(n) for n in page.items])
    said = f"{page.unread} unread" + ("; older ones not shown (--limit)" if page.older is not None else "")
    if marked is not None:
        said = f"{marked.marked} marked read"
    console.print(Text(said, style="dim"))


def _row(notice: Notice) -> tuple[Text, str, Text, str]:
    new = Text("new", style="bold") if not notice.read else Text("")
    return new, when(notice.at), Text(notice.level, style=LEVEL_STYLE.get(notice.level, "")), notice.what
