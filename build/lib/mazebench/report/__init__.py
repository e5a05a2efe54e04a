"""The application's result pages, one module per concern:

- ``spec``: what a report runs and where (``ReportSpec``); ``pipeline``: datasets, training, cached
  evaluations, then ``build_report``; ``tables``: the numbers of its cells; ``figures``; ``page``: Markdown;
- ``claims``: the paper's two claims with paired tests; ``curves``: learning curves from training logs;
- the other pages: ``ablation`` (FlexMDM's departures from the paper) and ``factors`` (one sampler setting at a time).
"""

from mazebench.report.pipeline import build_report
from mazebench.report.spec import ReportSpec

__all__ = ["ReportSpec", "build_report"]
