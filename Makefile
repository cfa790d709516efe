# Thin wrappers over what CI runs (.ci/run calls `make test`).
CARGO ?= cargo
PREFIX ?= /usr/local
DESTDIR ?=

PHONY_PACKAGES = container deb rpm wheel
.PHONY: all build release packages $(PHONY_PACKAGES) lambda-layer test check demo bench fuzz install clean

all: build

build:
	$(CARGO) build

## The shipped artifact: a fully static musl binary (see scripts/static-check.sh);
## ARCH=arm64 builds and checks the aarch64 one (scripts/arm64-check.sh).
MUSL = x86_64-unknown-linux-musl
STATIC_BIN = target/$(MUSL)/release/secretexec
ARCH ?= x86_64
release:
ifeq ($(ARCH),arm64)
	scripts/arm64-check.sh
else
	scripts/static-check.sh
endif

## Everything CI checks: formatting, lints, unit and integration tests
## (the integration tests start their own moto_server on 127.0.0.1), and the
## static release artifact with its scratch-container DNS check, the arm64
## one run under qemu-user against moto, and every
## package channel built and checked (packaging/build.sh). Both release
## binaries are built in one cargo run first (scripts/release-build.sh).
test: check
	scripts/test-deps.sh
	$(CARGO) test
	scripts/release-build.sh x86_64 arm64
	scripts/static-check.sh
	scripts/arm64-check.sh
	packaging/build.sh

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## A local Secrets Manager emulator, a demo secret, secretexec in front of
## a command that shows the variable names it received.
demo:
	scripts/demo.sh

## The container root, .deb, .rpm, wheel, Lambda layers, release tarballs,
## SHA256SUMS and the Homebrew formula in target/packages, each checked; or
## one channel at a time.
packages: release
	packaging/build.sh
container deb rpm wheel: release
	packaging/build.sh $@

## A Lambda layer zip per architecture (AWS_LAMBDA_EXEC_WRAPPER=/opt/secretexec-wrapper),
## the x86-64 one checked by replaying the wrapper contract against moto.
lambda-layer: release
	packaging/build.sh lambda

## secretexec against the floor, the aws CLI and boto3 on a local moto,
## on loopback and at a 20 ms round trip; writes BENCHMARKS.md.
bench: release
	$(CARGO) build --release --example floor
	SECRETEXEC_BENCH_BIN=$(CURDIR)/$(STATIC_BIN) BENCH_COLD_BUILD=1 $(CARGO) bench --bench compare

## Each fuzz target for FUZZ_SECONDS (nightly + cargo-fuzz, installed when
## missing). New inputs go to fuzz/target/corpus; the seeds in fuzz/corpus
## stay as committed.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = spec value dotenv
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/target/corpus/$$t && \
		(cd fuzz && $(CARGO) +nightly fuzz run $$t target/corpus/$$t corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -max_len=4096) || exit 1; \
	done

## The binary, its man page and completions under $(DESTDIR)$(PREFIX).
install: release
	install -Dm755 $(STATIC_BIN) $(DESTDIR)$(PREFIX)/bin/secretexec
	install -Dm644 packaging/man/secretexec.1 $(DESTDIR)$(PREFIX)/share/man/man1/secretexec.1
	install -Dm644 packaging/completions/secretexec.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/secretexec
	install -Dm644 packaging/completions/_secretexec $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_secretexec
	install -Dm644 packaging/completions/secretexec.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/secretexec.fish

clean:
	$(CARGO) clean
