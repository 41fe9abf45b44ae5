"""Found by the KPI engine's discovery of `<app>.metrics`; the chimera metrics live in chimera/metrics.py."""

from chimera import metrics  # noqa: F401 - importing registers them
