"""Regional priority reports, dashboards and charts, as plain data (plotly figures as dicts)."""

from .build import (
    ReportFilter,
    ReportFilterError,
    chapter_label,
    comparison,
    comparison_page,
    dashboard,
    generated_stamp,
    heatmap,
    priority_report,
    report_filter,
    state_scores,
)

__all__ = [
    "ReportFilter",
    "ReportFilterError",
    "chapter_label",
    "comparison",
    "comparison_page",
    "dashboard",
    "generated_stamp",
    "heatmap",
    "priority_report",
    "report_filter",
    "state_scores",
]
