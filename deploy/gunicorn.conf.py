"""gunicorn settings for CosmosQuest: `gunicorn -c deploy/gunicorn.conf.py cosmosquest.wsgi`.

Every value can be overridden from the environment (GUNICORN_*), so one file serves every host.
The key pool keeps all of its state in PostgreSQL, so any number of workers on any number of
hosts share cooldowns and budgets; nothing here needs to know about the other hosts.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Sync workers: a player's request may wait on the LLM for up to KEYMANAGER_WAIT_BUDGET seconds,
# so size by concurrency wanted, not only by cores; threads let one worker hold several waits.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
# Above the pool's wait budget (20 s) plus one request timeout (15 s): gunicorn never kills a
# worker that is still inside its budget. A worker killed anyway loses nothing: its pending
# usage rows are reservations that roll out of the rate-limit windows on their own.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 45))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 40))
keepalive = 5
# Recycle workers now and then (jittered so they do not all restart together).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 2000))
max_requests_jitter = 200
# Load the app in each worker, after fork: no database connection or SDK socket is shared.
preload_app = False
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Trust X-Forwarded-* only from the local TLS proxy.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
