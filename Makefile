# Two commands matter (see README): `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install style types tests docs test-deploy bench

# pip byte-compiles one file after another; compileall does it on every core, and for
# labvault's own (editable) source too, so that every process the tests start (CLI
# commands, servers) need not compile it again where PYTHONDONTWRITEBYTECODE is set.
# Every folder of plugins/ is installed too (editable, with its test extra), in the same
# pip run, so a plugin that depends on another finds it here rather than on PyPI.
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test]' \
		$(foreach plugin,$(PLUGINS),-e '$(plugin)[test]')
	$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib core plugins
	touch $(STAMP)

install: $(STAMP)

# Run the server on the embedded SQLite default (config.py is made from the template once).
run: $(STAMP)
	test -f config.py || cp config-template.py config.py
	$(BIN)/labvault serve --dev

style: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy, and import-linter: the core's packages keep to their layers (pyproject.toml).
types: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports

# The test suite (tests/ and every plugin's tests/), on every core (pytest-xdist).
tests: $(STAMP)
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

lint: style types

# The documentation site (mkdocs.yml, docs/) into site/, offline; a warning fails it.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

# Lint, type-check and run the whole test suite; type checks run beside the tests.
test: style
	$(MAKE) --no-print-directory -j 2 types tests

# The deployer's recipe (docs/deploy.md), checked end to end: wheels in a fresh venv behind
# nginx under a path prefix, and the container image and compose file under podman. Needs
# root (podman, debootstrap), nginx and MariaDB; CI runs it after the tests.
test-deploy: $(STAMP)
	$(BIN)/python -m pytest deploy/checks -p no:cacheprovider -n 2 --dist loadfile $(PYTEST_ARGS)

# Every benchmark of bench/ in its short form, and one table of them (bench/all.py); each
# prints ratios against baselines it measures in the same run. Not part of `make test`.
bench: $(STAMP)
	$(BIN)/python bench/all.py
