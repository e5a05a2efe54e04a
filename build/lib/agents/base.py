"""Deprecated alias, kept for one release: the planner contract is ``mazebench.Planner`` (``mazebench.planner``)."""

from mazebench.planner import Planner, error_line  # noqa: F401
