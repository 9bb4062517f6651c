"""The Celery app of the lab and its configuration.

What the settings guarantee:
- payloads are data: JSON in and out (``task_serializer``/``accept_content``), never pickle;
- at most once: a job's message is acknowledged when its run starts (``task_acks_late`` off), so a worker
  that dies never has it redelivered by the broker (the lab resubmits it once itself, see lost.py);
- one job at a time per device: each device's worker runs with concurrency 1 and no prefetch
  (``worker_disable_prefetch``: it takes the next message only when the running one is done, so a message
  waiting in Redis can still be overtaken by a higher priority);
- priorities: kombu's Redis transport keeps one list per priority step; a worker pops its queues'
  highest-priority lists first, and among equal priorities rotates its queues (``round_robin``), which
  interleaves the users' sub-queues.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Optional
from urllib.parse import urlsplit

from celery import Celery

from ..cli.plan_args import UsageError
from .keys import PRIORITY_STEPS

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
TASK_NAME = "edgebench.lab.run_job"


class LabError(UsageError):
    """A lab command cannot go on; the message says what to fix (exit 2)."""


def _raw_url(flag: Optional[str] = None) -> str:
    return flag or os.environ.get("EDGEBENCH_BROKER") or DEFAULT_BROKER


def is_loopback(host: Optional[str]) -> bool:
    """``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if not host:
        return True  # redis:// without a host is localhost
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def broker_url(flag: Optional[str] = None, insecure: Optional[bool] = None) -> str:
    """``--broker``, else ``$EDGEBENCH_BROKER``, else Redis on loopback. A broker on a non-loopback address
    without a password is refused (anyone on that network could read and write the lab's queues) unless
    ``insecure`` (``--insecure-broker``, or ``$EDGEBENCH_LAB_INSECURE_BROKER=1`` which ``lab worker`` passes on)."""
    url = _raw_url(flag)
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise LabError("broker %r: the lab needs Redis, e.g. redis://127.0.0.1:6379/0 (or rediss:// for TLS)"
                       % redacted(url))
    if insecure is None:
        insecure = os.environ.get("EDGEBENCH_LAB_INSECURE_BROKER") == "1"
    if not insecure and not parts.password and not is_loopback(parts.hostname):
        raise LabError("broker %s is on a network address and has no password: anyone who can reach it could read "
                       "and write the lab's queues. Require a login in Redis (ACL, README 'A device lab') and give it "
                       "in the URL, rediss://USER:PASSWORD@%s/0, or pass --insecure-broker if that network is yours "
                       "alone" % (redacted(url), parts.netloc))
    return url


def redacted(url: str) -> str:
    """The broker URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":%s@" % parts.password, ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def configure(app: Celery, url: str) -> Celery:
    app.conf.update(
        broker_url=url,
        task_serializer="json", accept_content=["json"], result_serializer="json",
        task_ignore_result=True,            # results land in the results store, not in Celery
        task_acks_late=False,                # at most once: never redelivered after it started
        task_reject_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        worker_disable_prefetch=True,
        worker_concurrency=1,
        task_default_priority=4,             # kombu terms (0 first); submissions always set their own
        broker_transport_options={"priority_steps": PRIORITY_STEPS, "queue_order_strategy": "round_robin",
                                  "visibility_timeout": 3600},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a Redis restart is waited out, not fatal
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        enable_utc=True,
    )
    return app


#: The lab's app; ``celery -A bench.lab.app worker`` and every lab command use it.
app = configure(Celery("edgebench-lab", include=["bench.lab.tasks"]), _raw_url())
