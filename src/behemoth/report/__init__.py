"""Reports: a sweep's table (or one run's records) as one self-contained HTML file with plots,
and the printed one-screen summary of the same numbers.

Pure data in, figures out: nothing here imports torch. The trained model is the unit of
replication: every number is stated over trained models (:mod:`behemoth.replicates`).
"""

from behemoth.report.html import Report, write_report
from behemoth.report.summary import summary_of, summary_text

__all__ = ["Report", "summary_of", "summary_text", "write_report"]
