#!/usr/bin/env bash
# Debian's chromium for the one real-browser test. Skips quietly when it is there or we are not root.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "install-browser: apt-get could not install chromium; the browser test will be skipped"
else
  echo "install-browser: not root or no apt-get; the browser test will be skipped"
fi
