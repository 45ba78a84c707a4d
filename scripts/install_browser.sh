#!/bin/sh
# The browser the tests in tests/browser/ drive: Debian's chromium (Playwright's own browser
# download does not work here; the tests launch /usr/bin/chromium). Python's playwright comes
# from requirements-dev.txt. Safe to run again: it does nothing when chromium is there.
set -eu
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: no $CHROMIUM and no apt-get; install Chromium and set CHROMIUM=/path/to/it" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install_browser: installing Debian's chromium (once)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-noto-color-emoji >/dev/null
"$CHROMIUM" --version
