"""The Celery application; tasks are discovered in every installed app's ``tasks`` module.

Workers run ``--pool threads`` (the Procfile, the README): a task only waits on the sandbox
service and the database. On the embedded broker the prefork pool (Celery's default, so
also a bare ``celery worker``) is refused at start:
kombu's filesystem transport has no event loop, so Celery runs billiard's blocking pool,
whose children share one inqueue behind one lock, and an idle child holds that lock while
it waits. A child killed then (SIGKILL, the OOM killer) takes the lock with it and every
other child waits on it forever: the worker keeps receiving and runs nothing. (On Redis the
event loop gives each child its own pipe, and a killed child is only replaced.)
"""
import os
import sys

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("plugyard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

PREFORK = {"prefork", "processes", "celery.concurrency.prefork"}


@signals.worker_init.connect
def _refuse_prefork_on_the_embedded_broker(sender=None, **kwargs) -> None:
    pool = getattr(sender, "pool_cls", None)
    name = pool if isinstance(pool, str) else getattr(pool, "__module__", "")
    if name in PREFORK and str(sender.app.conf.broker_url or "").startswith("filesystem"):
        sys.stderr.write(
            "worker: the prefork pool can wedge on the embedded (filesystem) broker when a pool child is "
            "killed; run --pool threads (as the Procfile does), or set CELERY_BROKER_URL=redis://… for prefork.\n"
        )
        raise SystemExit(2)
