#!/usr/bin/env bash
# Install the Debian packages the test suite needs, when they are missing:
#   postgresql    - the knowledge base is tested on a real PostgreSQL server too.
#   redis-server  - the WeChat channel's shared message store is tested on a real Redis server.
#   chromium, chromium-driver, fonts-wqy-microhei, fonts-noto-color-emoji
#                 - the web chat page is tested in a real headless Chromium (with a CJK font and a
#                   colour emoji font, so the screenshots show the Chinese and the 👍/👎 that
#                   residents see, not empty boxes).
#   nginx         - `make cluster` and tests/test_cluster.py put it in front of the Rasa replicas
#                   and the web servers (run in the foreground from var/cluster, never as a service).
#   nodejs, npm   - `make web-deps` installs the console's chart library (Apache ECharts) with
#                   `npm ci` from web/package-lock.json.
# With --npm only nodejs and npm (what `make web-deps` needs on a machine without npm).
# Idempotent; does nothing when everything is present. Needs root (or sudo) on Debian.
set -euo pipefail
need=()
if [ "${1:-}" != "--npm" ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need+=(redis-server)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
  [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
  [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
fi
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: need root or sudo to apt-get install ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
