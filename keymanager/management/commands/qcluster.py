"""`manage.py qcluster`: django-q2's command, stopping within seconds on SIGTERM/SIGINT sent to
its process group (cosmosquest/qcluster.py says why django-q2's own one hangs)."""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django_q.management.commands import qcluster

from cosmosquest.qcluster import run_cluster


class Command(qcluster.Command):
    help = "Starts the django-q2 cluster; SIGTERM or SIGINT, to it or to its process group, stops it cleanly."

    def handle(self, *args, **options):
        # django-q2's own preamble (its start/stop is what is replaced): SECRET_KEY signs the
        # tasks, and an alternative cluster name travels through the environment.
        settings.SECRET_KEY  # noqa: B018
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        status = run_cluster(run_once=options["run_once"])
        if status:
            sys.exit(status)
