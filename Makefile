# Thin wrappers over what CI runs (.ci/run calls `make test`).
CARGO ?= cargo
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all build release test check demo install clean

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

## Everything CI checks: formatting, lints, unit and integration tests
## (the integration tests start their own moto_server on 127.0.0.1).
test: check
	scripts/test-deps.sh
	$(CARGO) test

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## A local Secrets Manager emulator, a demo secret, secretexec in front of
## a command that shows the variable names it received.
demo:
	scripts/demo.sh

install: release
	install -Dm755 target/release/secretexec $(DESTDIR)$(PREFIX)/bin/secretexec

clean:
	$(CARGO) clean
