"""Reports: a sweep's table (or one run's records) as one self-contained HTML file with plots.

Pure data in, figures out: nothing here imports torch.
"""

from behemoth.report.html import Report, write_report

__all__ = ["Report", "write_report"]
