# Two commands a newcomer needs: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
AXE    := tests/e2e/node_modules/axe-core/axe.min.js

.PHONY: run demo test lint types unit venv e2e-deps i18n clean bench-asgi bench-log bench-crypto bench-read bench-load crash fuzz stateful

$(STAMP): pyproject.toml packages/tlog/pyproject.toml packages/agency/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		(echo "Bürgertresor needs Python 3.11 or newer (set PYTHON=...)"; exit 1)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e packages/tlog -e packages/agency -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## Browser tests' axe-core (tests/e2e/package-lock.json); Chromium itself comes from apt (`apt-get install chromium`)
$(AXE): tests/e2e/package.json tests/e2e/package-lock.json
	npm ci --prefix tests/e2e --no-audit --no-fund
	@touch $(AXE)

e2e-deps: $(AXE)

## Start the vault with demo data on http://localhost:8000 (embedded SQLite in ./var; a host name, so passkeys work)
run: $(STAMP)
	VAULT_ISSUER=$${VAULT_ISSUER:-http://localhost:8000} $(BIN)/vault serve --demo --host 127.0.0.1 --port 8000

## The vault's demo (port 8000), the example agency app "Bürgeramt" (port 8001) and the test eID provider (port 8002).
## The vault's client at the provider (key and clients file in var/) is made once; the provider is registered once.
EID_ISSUER  := http://localhost:8002
EID_KEY     := var/eid-client-key.pem
EID_CLIENTS := var/eid-clients.json
EID_ACR_MAP := http://eidas.europa.eu/LoA/high=high,http://eidas.europa.eu/LoA/substantial=substantial
demo: $(STAMP)
	@echo "Starting the vault (http://localhost:8000), the agency app (:8001) and the test eID provider (:8002); Ctrl-C stops all three."
	@test -f $(EID_KEY) || { mkdir -p -m 700 var && $(BIN)/python -m examples.eid_provider.make_client --clients $(EID_CLIENTS) \
		--client-id buergertresor --redirect-uri http://localhost:8000/login/idp/callback --key-out $(EID_KEY) >/dev/null; }
	@export VAULT_ISSUER=http://localhost:8000; \
	$(BIN)/vault serve --demo --host 127.0.0.1 --port 8000 & vault=$$!; \
	$(BIN)/python -m examples.eid_provider --issuer $(EID_ISSUER) --port 8002 --clients $(EID_CLIENTS) & eid=$$!; \
	trap 'kill $$vault $$eid 2>/dev/null; wait $$vault $$eid 2>/dev/null' EXIT INT TERM; \
	for _ in $$(seq 120); do \
		$(BIN)/python -c 'import sys, httpx; sys.exit(any(httpx.get(u, timeout=2).status_code != 200 for u in sys.argv[1:]))' \
			http://127.0.0.1:8000/readyz http://127.0.0.1:8002/healthz 2>/dev/null && break; sleep 0.5; \
	done; \
	$(BIN)/vault idp list | grep '"issuer": "$(EID_ISSUER)"' | grep -q '"disabled": false' || \
		$(BIN)/vault idp add --name Test-eID --issuer $(EID_ISSUER) --client-id buergertresor --private-key $(EID_KEY) \
			--acr-map '$(EID_ACR_MAP)' >/dev/null || exit 1; \
	$(BIN)/python -m examples.agency_app --vault http://localhost:8000 --agency var/demo-agency.json --port 8001 \
		--service 'adressabgleich=Ummeldung mit Adressabgleich' --service 'wohnsitz-anmelden=Wohnsitz anmelden (Online-Ausweis)' \
		--announce "Open http://localhost:8001 and press a button 'Aus Bürgertresor ausfüllen'; sign in to the vault as erika.mustermann@example.de / Demo-Passwort-2026, or with the online ID card (Test-eID, persona Erika Mustermann)"

## Lint (ruff, the import contracts), types and the whole test suite
test: lint types unit

lint: $(STAMP)
	$(BIN)/ruff check vault packages/tlog/tlog packages/agency/agency_sdk tests bench examples
	$(BIN)/ruff format --check vault packages/tlog/tlog packages/agency/agency_sdk tests bench examples
	$(BIN)/lint-imports --no-cache   # the layering contracts in .importlinter

types: $(STAMP)
	$(BIN)/mypy

## The suite runs on PYTEST_WORKERS processes (pytest-xdist; 2 = the cores of the CI machine; 0 = in this process)
PYTEST_WORKERS ?= 2
unit: $(STAMP) $(AXE)
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

## ASGI server comparison (figures go to docs/operations.md)
bench-asgi: $(STAMP)
	$(BIN)/python -m bench.asgi_servers

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache tests/e2e/node_modules

## Transparency log: appends/s, integrator capacity, proof latency at 10^5..10^7 (docs/transparency.md)
bench-log: $(STAMP)
	$(BIN)/python -m bench.log $(BENCH_ARGS)

## Crypto: our AEAD vs the bare library calls, 20 MiB documents, key wrap, Argon2id (docs/crypto.md)
bench-crypto: $(STAMP)
	$(BIN)/python -m bench.crypto $(BENCH_ARGS)

## Messages of the citizen pages: add new msgids to both catalogues (then translate the empty msgstr; a test checks)
i18n: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ --no-location --sort-output -o .messages.pot vault/api
	$(BIN)/pybabel -q update -i .messages.pot -d vault/api/locales --no-fuzzy-matching --ignore-obsolete --width 120
	@rm -f .messages.pot

## Agency data reads (DPoP, 5 attributes, durable log entry) vs a hello-world app, same server (docs/performance.md)
bench-read: $(STAMP)
	$(BIN)/python -m bench.read $(BENCH_ARGS)

## Mixed load (reads, consents, revokes, sign-ins, edits) with its invariants, SQLite and PostgreSQL (docs/security.md)
bench-load: $(STAMP)
	$(BIN)/python -m bench.load --clients 8 --duration 60 $(BENCH_ARGS)

## Crash runs: 20 SIGKILLs per database under load, PostgreSQL stopped in immediate mode, the log jammed (docs/security.md)
crash: $(STAMP)
	$(BIN)/python -m bench.load.crash --kills 20 --clients 6 $(BENCH_ARGS)

## Fuzzing: schemathesis over /schema/openapi.json (500 examples per operation and mode) and hostile input against `vault serve` (docs/security.md)
fuzz: $(STAMP)
	VAULT_FUZZ_EXAMPLES=$${VAULT_FUZZ_EXAMPLES:-500} $(BIN)/pytest -p no:cacheprovider -q tests/fuzz

## Stateful property test, long run (CI runs 30 examples x 40 steps per database); about 10 min on 2 cores
stateful: $(STAMP)
	VAULT_STATEFUL_EXAMPLES=$${VAULT_STATEFUL_EXAMPLES:-300} VAULT_STATEFUL_STEPS=$${VAULT_STATEFUL_STEPS:-60} \
		$(BIN)/pytest -q -p no:cacheprovider tests/reliability/test_state_machine.py
