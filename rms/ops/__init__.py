"""Operations: health and readiness probes, Prometheus metrics, structured logging.

Nothing here is imported at start-up except ``rms.ops.logging`` (by the LOGGING setting), so
that module imports no models and reads no settings.
"""

from __future__ import annotations
