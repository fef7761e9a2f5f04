"""gunicorn settings for CosmosQuest: `gunicorn -c deploy/gunicorn.conf.py cosmosquest.wsgi`.

Every value can be overridden from the environment (GUNICORN_*), so one file serves every host.
The key pool keeps all of its state in PostgreSQL, so any number of workers on any number of
hosts share cooldowns and budgets; nothing here needs to know about the other hosts.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# No web request waits on the LLM (the django-q2 cluster writes live missions), so requests are
# short: a few workers per core, and threads to overlap their database round trips.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
# Admin actions (testing a key) still call the provider inside the request: above the pool's
# wait budget (20 s) plus one request timeout (15 s), gunicorn never kills one inside its budget. A worker killed anyway loses nothing: its pending
# usage rows are reservations that roll out of the rate-limit windows on their own.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 45))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 40))
keepalive = 5
# Recycle workers now and then. Workers share the load evenly, so they reach the same count at
# about the same time: with a small jitter two of them rebooted together (each loads Django
# after fork) and the site stalled for seconds under load. Half the count spreads them out.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 2000))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 2))
# Load the app in each worker, after fork: no database connection or SDK socket is shared.
preload_app = False
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Trust X-Forwarded-* only from our proxies: the same list the application reads (TRUSTED_PROXIES,
# addresses or networks), so gunicorn and Django agree on who may name the client.
forwarded_allow_ips = (
    os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS") or os.environ.get("TRUSTED_PROXIES") or "127.0.0.1,::1"
)


# /metrics under gunicorn: each worker keeps its histograms in prometheus-client's multiprocess
# files (PROMETHEUS_MULTIPROC_DIR, set by the web unit, emptied at each start by systemd's
# RuntimeDirectory=); a worker that exits is marked dead so its live gauges stop counting.
def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
