"""Figures as a chart and a table, for the DPO's figures page and the
public transparency page: both render ``templates/portal/chart_section.html``
and draw the charts with ``static/portal/charts.js`` from the data-*
attributes built here."""

from __future__ import annotations

import json


def chart_data(labels, series) -> dict:
    """What a chart element carries in its data-* attributes: the labels
    along the x axis and, per series, its name and values (None: nothing
    drawn)."""
    return {"labels": json.dumps([str(label) for label in labels]),
            "series": json.dumps([{"name": str(name), "values": values}
                                  for name, values in series])}


def section(key: str, heading, kind: str, empty, columns: list, rows: list[list], series,
            **extra) -> dict:
    """One figure: its chart (``kind``: "bars", "stacked" or "lines"; the
    rows' first cells along the x axis) and the same numbers as a table.
    ``extra``: ``intro`` (a sentence above the chart), ``open`` (the table
    shown, not folded)."""
    return {"key": key, "heading": heading, "kind": kind, "empty": empty,
            "columns": columns, "rows": rows, **extra,
            **chart_data([row[0] for row in rows], series)}
