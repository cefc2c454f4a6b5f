#!/usr/bin/env bash
# Debian packages the tests drive for real: headless Chromium and its WebDriver (the web view test) and
# the mosquitto broker (the MQTT test). `make test` runs this: as root on Debian/Ubuntu it apt-installs
# the missing ones; otherwise it says what to install (outside CI those tests then skip; in CI they fail).
set -euo pipefail
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
need=()
have chromium || need+=(chromium)
have chromedriver || need+=(chromium-driver)
have mosquitto || need+=(mosquitto)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: missing ${need[*]}; install them as root (apt-get install -y ${need[*]}) or their tests skip"
    exit 0
fi
echo "test-deps: apt-get install ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
