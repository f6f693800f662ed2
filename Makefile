# Plugyard: `make run` serves everything on embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# The PostgreSQL the suite's second leg runs on (this machine kind runs one on 5432).
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/plugyard
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test test-sqlite test-postgres bench lint clean

$(VENV)/installed: pyproject.toml sdk/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ./sdk -e '.[dev]'
	touch $@

# The sandbox's namespaces come from bubblewrap: installed here when we can (root with apt);
# otherwise the banner says which layer is missing and the command that adds it.
run: $(VENV)/installed
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ echo "run: installing bubblewrap for the sandbox"; \
		  (apt-get install -y -qq bubblewrap || (apt-get update -qq && apt-get install -y -qq bubblewrap)) >/dev/null; }; } || true
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py load_demo
	DEBUG=true PLUGYARD_WEBHOOKS_ALLOW_LOOPBACK=true $(PY) -m config.supervise Procfile --port $(PORT)

# The whole suite twice: on the embedded defaults (SQLite, filesystem broker), then on a
# real PostgreSQL and Redis. pytest's "no tests ran" (exit 5) fails the run.
test: test-sqlite test-postgres

test-sqlite: $(VENV)/installed
	$(PY) -m pytest -p no:cacheprovider

test-postgres: $(VENV)/installed
	DATABASE_URL=$(TEST_POSTGRES_URL) PLUGYARD_TEST_REDIS_URL=$(TEST_REDIS_URL) \
		$(PY) -m pytest -p no:cacheprovider

# The route benchmark drives gunicorn with wrk; install it from Debian when missing.
bench: $(VENV)/installed
	@command -v wrk >/dev/null || { echo "bench: installing wrk"; \
		(apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)) >/dev/null \
		|| echo "bench: could not install wrk (apt-get install wrk); the route benchmark will say so"; }
	$(PY) bench/run_all.py

# The SDK as a wheel (dist/plugyard_sdk-<version>-py3-none-any.whl), for plugin authors'
# venvs: `pip install dist/plugyard_sdk-*.whl` (its dependencies come from PyPI).
.PHONY: sdk
sdk: $(VENV)/installed
	$(PY) -m pip wheel -q --no-deps --wheel-dir dist ./sdk
	@ls dist/plugyard_sdk-*.whl

# ruff, then the import layers of ../shared/DESIGN.md ("Layering"), as .importlinter states them.
lint: $(VENV)/installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) var .pytest_cache
