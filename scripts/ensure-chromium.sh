#!/usr/bin/env bash
# The consent-page test drives Debian's chromium with playwright-core (Playwright never downloads a
# browser here). Installs the package when it is missing and we may (root with apt-get); otherwise
# says what to run. Called by `npm test` (pretest) and by .ci/run.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-chromium: installing Debian's chromium for the browser test" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  [ -x "$CHROMIUM" ] && exit 0
fi
echo "ensure-chromium: $CHROMIUM is missing; install it with: sudo apt-get install chromium" >&2
exit 1
