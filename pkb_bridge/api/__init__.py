"""REST API of the PKB bridge, mounted under /api/v1/ by ``rms.api.urls``."""
