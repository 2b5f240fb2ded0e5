# MemMimic: the two newcomer commands.
#   make demo   set up .venv (torch CPU first, then the project) and run the 5-minute tour
#   make test   set up the same way, then lint, type-check and run the whole test suite
# Everything heavy is installed here and only here.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.memmimic-installed
DEMO_HOME ?= .memmimic-demo
PYTEST_ARGS ?=

.PHONY: setup demo test lint typecheck bench-smoke clean-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch must come first, alone and pinned: anything that depends on it would otherwise pull a CUDA build.
$(VENV)/.torch-installed: | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	touch $@

$(STAMP): pyproject.toml $(VENV)/.torch-installed
	$(BIN)/pip install --disable-pip-version-check -q -e '.[embedded,server,test]'
	touch $@

# WordNet 3.0 for the `wordnet` expander, offline: Debian's data copied into the venv's nltk_data.
WORDNET_STAMP = $(VENV)/share/nltk_data/corpora/wordnet/lexnames

$(WORDNET_STAMP): | $(STAMP)
	@test -f /usr/share/wordnet/data.noun || { apt-get update -qq && apt-get install -y -qq wordnet-base wordnet-sense-index; }
	$(BIN)/python -m memmimic_core.wordnet_setup --target $(VENV)/share/nltk_data

# Export the packaged MiniLM to ONNX once (offline, cached per user), so no recall pays for it.
MODEL_STAMP = $(VENV)/.memmimic-model-ready

$(MODEL_STAMP): $(STAMP)
	$(BIN)/python -c "from memmimic_plugins.minilm import SentenceTransformersEmbedder as E; E(E.Options()).warm_up()"
	touch $@

setup: $(STAMP) $(WORDNET_STAMP) $(MODEL_STAMP)

demo: setup clean-demo
	@echo "== MemMimic tour (data in $(DEMO_HOME); config: embedded defaults) =="
	MEMMIMIC_HOME=$(DEMO_HOME) $(BIN)/memmimic remember "The deploy script lives in ops/deploy.sh and needs the VPN" --type technical --tag ops
	MEMMIMIC_HOME=$(DEMO_HOME) $(BIN)/memmimic remember "Maria prefers short status updates on Friday afternoons" --tag people
	MEMMIMIC_HOME=$(DEMO_HOME) $(BIN)/memmimic remember "We chose PostgreSQL for the team server because it handles concurrent writers" --type milestone
	MEMMIMIC_HOME=$(DEMO_HOME) $(BIN)/memmimic remember "Always run the migrations before restarting the API" --type technical
	MEMMIMIC_HOME=$(DEMO_HOME) $(BIN)/memmimic remember "The cat knocked the coffee over the keyboard on Monday"
	MEMMIMIC_HOME=$(DEMO_HOME) $(BIN)/memmimic recall "how do I deploy?" --explain
	MEMMIMIC_HOME=$(DEMO_HOME) $(BIN)/memmimic recall "which database did the team pick" --limit 3
	MEMMIMIC_HOME=$(DEMO_HOME) $(BIN)/memmimic status
	@echo "== Tour done. Try: MEMMIMIC_HOME=$(DEMO_HOME) $(BIN)/memmimic --help =="

clean-demo:
	rm -rf $(DEMO_HOME)

lint: setup
	$(BIN)/ruff check src plugins tests benchmarks
	$(BIN)/ruff format --check src plugins tests benchmarks

typecheck: setup
	$(BIN)/mypy

PG_SUITES = tests/test_storage_contract.py::TestStorage tests/test_storage_text_index.py tests/test_numpy_index.py \
	tests/test_tantivy_index.py tests/test_faiss_index.py

test: setup lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 $(PYTEST_ARGS)
	@echo "== the storage and text/vector index contract suites again, on PostgreSQL storage =="
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 $(PG_SUITES) --memmimic-storage postgresql
	@echo "== benchmark matrix smoke run (keeps the harness from rotting) =="
	$(BIN)/python benchmarks/matrix/run.py --smoke

bench-smoke: setup
	$(BIN)/python benchmarks/matrix/run.py --smoke
