#!/usr/bin/env bash
# Debian's chromium and chromium-driver for the console's browser tests (tests/browser/),
# installed by `make test` when missing. In CI (CI set) a browser that cannot be installed
# fails `make test`; elsewhere this prints one line and the browser tests skip with the reason.
set -uo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi

fail() {
  if [ -n "${CI:-}" ]; then
    echo "make: $1; the browser tests cannot run (CI needs them)" >&2
    exit 1
  fi
  echo "make: $1; the browser tests (tests/browser/) will be skipped" >&2
  exit 0
}

if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  fail "chromium/chromium-driver are missing and installing them needs root (or sudo without a password)"
fi
command -v apt-get >/dev/null || fail "chromium/chromium-driver are missing and there is no apt-get to install them"

echo "make: installing Debian's chromium and chromium-driver (apt-get) for the browser tests"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >/dev/null \
  && "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null \
  || fail "apt-get could not install chromium and chromium-driver (run it by hand to see why)"
command -v chromium >/dev/null && command -v chromedriver >/dev/null \
  || fail "chromium or chromedriver is still not on PATH after apt-get"
