"""``celery -A config …`` run as ``python -m tests.integration.celery_main`` by the harness,
so workers use the test run's interpreter and path."""
import sys

from config.celery import app

if __name__ == "__main__":
    app.start(sys.argv[1:])
