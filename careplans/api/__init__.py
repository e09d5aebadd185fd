"""REST API of the follow-up plans, mounted under /api/v1/ by ``rms.api.urls``."""
