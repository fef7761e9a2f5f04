"""Settings for bench/reliability.py's django-q2 scenario: the real settings with a cluster that
redelivers quickly (one worker, task timeout 20 s, redelivery after 25 s) so a killed worker's
task comes back within the benchmark instead of after the production 180 s."""

from cosmosquest.settings import *  # noqa: F403
from cosmosquest.settings import Q_CLUSTER

Q_CLUSTER = {**Q_CLUSTER, "workers": 1, "timeout": 20, "retry": 25, "max_attempts": 3, "poll": 0.5}
