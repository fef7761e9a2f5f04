#!/bin/sh
# One release step, from one host, before the new code starts anywhere (web and cluster units
# restart after it): schema changes, the cache table (the shared cache when REDIS_URL is unset),
# the django-q2 schedules. Every step is idempotent.
#   sudo -u cosmosquest env $(cat /etc/cosmosquest/production.env | grep -v '^#' | xargs) deploy/release.sh
# Migrations run straight against PostgreSQL (DATABASE_URL_DIRECT when set): PgBouncer in
# transaction pooling is fine for them too, but a direct connection keeps long index builds
# from holding a pooled server connection.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
if [ -n "${DATABASE_URL_DIRECT:-}" ]; then DATABASE_URL=$DATABASE_URL_DIRECT; export DATABASE_URL; fi
"$PYTHON" manage.py check --deploy --fail-level WARNING
"$PYTHON" manage.py migrate --noinput
"$PYTHON" manage.py createcachetable
"$PYTHON" manage.py schedules_setup
"$PYTHON" manage.py collectstatic --noinput
