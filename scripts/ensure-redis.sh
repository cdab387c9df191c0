#!/usr/bin/env bash
# `npm test`'s pretest: the Redis state store's tests start their own redis-server processes, so one
# must be installed. When redis-server is missing this installs Debian's redis-server package with
# apt-get (as root, or through sudo -n) and says so; it starts no service. With redis-server present
# it does nothing.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-redis: redis-server is needed by the tests; install it (no apt-get here to do it)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo -n"
  else
    echo "ensure-redis: redis-server is needed by the tests; run as root or install it yourself" >&2
    exit 1
  fi
fi
echo "ensure-redis: redis-server is missing; installing it with apt-get (Debian package redis-server)" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package may start a system service; the tests use their own processes on free ports.
echo "ensure-redis: installed $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/redis-server \1/p')" >&2
