"""REST API of the worklists, mounted at /api/v1/worklist/ by ``rms.api.urls``."""
