#!/bin/sh
# `make test-stress`: run a command (the whole suite) while Debian's stress-ng keeps every core
# busy, so a test that leans on the wall clock or on a fast machine shows up here, not in CI.
# stress-ng is installed once with apt-get (as scripts/install_browser.sh does for chromium). It is
# always stopped with SIGTERM when the command ends, fails or is interrupted: a job started with &
# from a script ignores SIGINT, so Ctrl-C alone would leave it running.
#     sh scripts/test_stress.sh COMMAND [ARGS...]      (STRESS_CPUS: workers, default 4)
set -eu
CPUS="${STRESS_CPUS:-4}"
if ! command -v stress-ng >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "test_stress: no stress-ng and no apt-get; install stress-ng" >&2
        exit 1
    fi
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "test_stress: installing Debian's stress-ng (once)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends stress-ng >/dev/null
fi

# stress-ng stops its workers on SIGTERM; its own timeout is the backstop should this script be killed.
stress-ng --cpu "$CPUS" --timeout "${STRESS_TIMEOUT:-3h}" --quiet &
STRESS=$!
stop() {
    kill -TERM "$STRESS" 2>/dev/null || true
    wait "$STRESS" 2>/dev/null || true
    echo "test_stress: stress-ng stopped"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
echo "test_stress: stress-ng --cpu $CPUS running (pid $STRESS): $*"
"$@"
