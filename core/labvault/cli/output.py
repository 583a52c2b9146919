"""What commands print: progress bars, tables, sizes, database errors and search engines
as people read them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import sqlalchemy as sa


class Bars:
    """Progress bars on stderr for ``progress(stage, amount, total)``, one per stage."""

    def __init__(self) -> None:
        self._stage: str | None = None
        self._bar: Any = None

    def __call__(self, stage: str, amount: int, total: int) -> None:
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = click.progressbar(length=max(total, 1), label=stage, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(amount)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
            self._stage = None


def human_size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover


def database_hint(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if "no such table" in text or "doesn't exist" in text or "does not exist" in text:
        return f"database is not set up ({text}): run `labvault db upgrade`"
    return f"database error: {text}"


def print_table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def engine_name(engine: str | None) -> str:
    from labvault.search import ENGINE_NAMES

    return ENGINE_NAMES.get(engine or "", engine or "?")
