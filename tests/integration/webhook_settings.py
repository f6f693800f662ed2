"""Settings for a worker that delivers webhooks to a test receiver on 127.0.0.1.

The production settings never read the private-address exception from the environment;
this module, used only by tests/integration/test_webhooks_celery.py, adds the receiver's
exact ``ip:port`` (from PLUGYARD_TEST_WEBHOOK_RECEIVER) on top of config.settings.
"""
import os

from config import settings as _base

globals().update({name: getattr(_base, name) for name in dir(_base) if name.isupper()})

_receiver = os.environ["PLUGYARD_TEST_WEBHOOK_RECEIVER"]
PLUGYARD_HTTP = {
    **_base.PLUGYARD_HTTP,
    "ports": [*_base.PLUGYARD_HTTP["ports"], int(_receiver.rsplit(":", 1)[1])],
    "UNSAFE_private_addresses_for_tests": [_receiver],
}
