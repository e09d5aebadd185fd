"""gunicorn's settings for the web container (``docker/entrypoint.sh web``).

Read from the environment as strictly as ``rms/settings.py``; the defaults suit the 2-core
machine a Trust's virtual server usually is. gunicorn's own lines are JSON like the rest,
and its access log stays off: ``rms.ops.logging.RequestIdMiddleware`` writes one line per
request without the query string (searches carry NHS numbers), which gunicorn's would not.
"""

from __future__ import annotations

import os

from rms.env import Env

env = Env()

bind = env.string("GUNICORN_BIND", default="0.0.0.0:8000")
# Synchronous workers: each request holds one; 2 x cores + 1 is gunicorn's rule of thumb.
workers = env.integer("GUNICORN_WORKERS", default=(os.cpu_count() or 1) * 2 + 1, minimum=1)
threads = env.integer("GUNICORN_THREADS", default=1, minimum=1)
timeout = env.integer("GUNICORN_TIMEOUT_S", default=60, minimum=5)
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests, so slow leaks cannot grow without bound.
max_requests = env.integer("GUNICORN_MAX_REQUESTS", default=2000, minimum=0)
max_requests_jitter = max_requests // 10
# The heartbeat file on a RAM disk: on the container's overlay filesystem a slow disk can
# stall it and get healthy workers killed (and the root filesystem may be read-only).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# The control socket would be created in the (absent, read-only) home directory.
control_socket_disable = True
accesslog = None
# gunicorn believes X-Forwarded-Proto (and so tells Django a request came over https) from
# the addresses in forwarded_allow_ips, loopback by default. Only a TLS proxy in front may
# say that: with BEHIND_TLS_PROXY=false nobody is trusted, and no header makes a request
# https; with it true, the proxy's addresses (FORWARDED_ALLOW_IPS, loopback by default).
if env.boolean("BEHIND_TLS_PROXY", default=False):
    forwarded_allow_ips = ",".join(env.strings("FORWARDED_ALLOW_IPS", default=["127.0.0.1", "::1"]))
else:
    forwarded_allow_ips = ""
    secure_scheme_headers: dict[str, str] = {}

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "rms.ops.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "rms.ops.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        # Through the root handler only (Django's LOGGING replaces it in each worker).
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        # gunicorn turns its access log on whenever a log config is given: keep it silent.
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}
