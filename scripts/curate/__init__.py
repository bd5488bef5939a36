"""curate: a GitOps curated Python package catalog."""

__version__ = "0.1.0"
