# Entry points: `make demo` and `make test` on a fresh machine; `make dev-up` / `make dev-down` for the
# local world. Everything runs on the Node 24 that npm installs into node_modules (package `node`).
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
NODE := $(CURDIR)/node_modules/.bin/node
# Integration files mostly wait (on sessions, rollouts, restarts): four at a time on two cores keeps the cores busy.
INTEGRATION_JOBS ?= 4
TAP_INTEGRATION := tap --disable-coverage --jobs=$(INTEGRATION_JOBS) --before=test/world/tap-before.ts --after=test/world/tap-after.ts

.PHONY: all setup deps bins system-packages typecheck lint format test test-unit test-integration test-kubelet dev-up dev-down demo clean

all: test

node_modules/.stash-ts-installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@test "$$($(NODE) --version | cut -d. -f1)" = "v24" || { echo "node_modules/.bin/node is not Node 24"; exit 1; }
	@touch $@

deps: node_modules/.stash-ts-installed

system-packages:
	@hack/install-system-packages.sh

bins: system-packages
	@hack/build-bins.sh etcd etcd-tools k8s k8s-node restic rest-server minio template promtool helm ferretdb

setup: deps bins

typecheck: deps
	tsc --noEmit -p tsconfig.json

# Every check runs even when an earlier one fails, so one run lists everything to fix.
LINT_STEPS := lint:eslint lint:format lint:cycles lint:refs
lint: deps
	@failed=""; for step in $(LINT_STEPS); do \
	  echo "== $$step"; npm run --silent $$step || failed="$$failed $$step"; \
	done; \
	if [ -n "$$failed" ]; then echo "lint failed:$$failed (formatting: hack/format.sh)"; exit 1; fi

format: deps
	hack/format.sh

# Hook rendering is tested on the real engine (shared/template): the one Go build unit tests need.
test-unit: deps
	@hack/build-bins.sh template
	tap

test-integration: setup
	$(TAP_INTEGRATION) 'test/integration/**/*.test.ts'

# The kubelet tier's world (mostly image imports and pod starts, little CPU) comes up while the unit tests run;
# the tier then reuses it and takes it down before the integration tests, which want the machine to themselves.
test: setup typecheck lint
	$(NODE) hack/gen-crds.ts --check
	$(NODE) hack/render-manifests.ts --check
	@mkdir -p .cluster; pre=; reason=$$($(NODE) -e "import('./test/world/node/world.ts').then((m) => console.log(m.nodeWorldUnsupported() ?? ''))"); \
	if [ -z "$$reason" ]; then $(NODE) test/world/cli.ts up .cluster/kubelet-test > .cluster/kubelet-prestart.log 2>&1 & pre=$$!; fi; \
	$(MAKE) --no-print-directory test-unit; unit=$$?; \
	if [ -n "$$pre" ]; then wait $$pre || echo "[test] the kubelet world did not come up early (the tier retries): $$(tail -n 3 .cluster/kubelet-prestart.log)"; fi; \
	if [ $$unit -ne 0 ] && [ -n "$$pre" ]; then $(NODE) test/world/cli.ts down .cluster/kubelet-test; fi; \
	exit $$unit
	$(MAKE) --no-print-directory test-kubelet
	$(MAKE) --no-print-directory test-integration

# The real-kubelet world's tier (test/kubelet/): one world per machine, shared by the story files (the first
# starts it, story-kit.ts's lock makes the others wait and reuse it). Stories run side by side, they mostly wait on
# pods; the leader story (it deletes an operator pod) and the helm story (it swaps the kubectl-applied product for
# a Helm release and back) run alone, and world.test.ts last: it takes the world down.
KUBELET_TAP := tap --disable-coverage --timeout=900
KUBELET_ALONE := test/kubelet/story-leader.test.ts test/kubelet/story-helm.test.ts test/kubelet/world.test.ts
# Separate runs: tap orders the files of one run by their last durations, and world.test.ts must be the last.
test-kubelet: setup
	@reason=$$($(NODE) -e "import('./test/world/node/world.ts').then((m) => console.log(m.nodeWorldUnsupported() ?? ''))"); \
	if [ -n "$$reason" ]; then echo "[test-kubelet] SKIPPED: this machine cannot run the real-kubelet world: $$reason"; \
	else rc=0; $(KUBELET_TAP) --jobs=3 $(filter-out $(KUBELET_ALONE),$(wildcard test/kubelet/*.test.ts)) || rc=1; \
	  for f in $(KUBELET_ALONE); do $(KUBELET_TAP) $$f || rc=1; done; exit $$rc; fi

# The real-kubelet world where the machine can run it, else the pod-runner world (cli.ts says which).
dev-up: setup
	$(NODE) test/world/cli.ts up

dev-down:
	@if [ -x $(NODE) ]; then $(NODE) test/world/cli.ts down; $(NODE) test/world/cli.ts down .cluster/test; fi

# BACKEND=local|rest|s3 picks the repository backend; KEEP=1 leaves the world running afterwards.
demo: setup
	$(NODE) demo/demo.ts

clean: dev-down
	rm -rf .cluster .tap coverage
