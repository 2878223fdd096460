"""Updating a ``DataTable`` row in place, at the width its new cells need.

``DataTable.update_cell(update_width=True)`` widens the column only on the next idle, but a
frame drawn before that caches the cell cut to the old width, and the cache is not keyed by
width: the cut text would stay on screen. Widening the column first avoids that frame.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable


def update_row(table: DataTable[Text], row_key: str, cells: Iterable[tuple[str, Text]]) -> None:
    """Put ``cells`` (column key, cell) in the row ``row_key``, widening columns as needed."""
    for column_key, cell in cells:
        column = table.columns.get(column_key)  # type: ignore[call-overload]
        if column is not None and column.auto_width:
            column.content_width = max(column.content_width, cell.cell_len)
        table.update_cell(row_key, column_key, cell, update_width=True)
