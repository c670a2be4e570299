"""Regional priority reports, dashboards and charts, as plain data (plotly figures as dicts)."""

from .build import (
    comparison,
    dashboard,
    heatmap,
    priority_report,
    state_scores,
)

__all__ = ["comparison", "dashboard", "heatmap", "priority_report", "state_scores"]
