"""What only development and trials need: demo data, the scale loader, the PKB sandbox and the
MLLP test client, with their management commands.

Installed only when ``RMS_DEVTOOLS`` is on (the default outside production); the production
image does not ship this package (docker/Dockerfile), the sandbox image does.
"""
