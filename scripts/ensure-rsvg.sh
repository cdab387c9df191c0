#!/usr/bin/env bash
# The timeline test renders `pnsmgr events --svg` to PNG as a person's viewer would, with rsvg-convert
# (Debian's librsvg2-bin). When rsvg-convert is missing this installs librsvg2-bin with apt-get (as
# root, or through sudo -n) and says so. Exit 1 with a reason on stderr when it cannot be installed.
set -euo pipefail

if command -v rsvg-convert >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-rsvg: rsvg-convert is needed by the timeline test; install librsvg2-bin (no apt-get here to do it)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "ensure-rsvg: rsvg-convert is needed by the timeline test; run as root or install librsvg2-bin yourself" >&2
    exit 1
  fi
fi
echo "ensure-rsvg: rsvg-convert is missing; installing it with apt-get (Debian package librsvg2-bin)" >&2
$sudo apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends librsvg2-bin >/dev/null
echo "ensure-rsvg: installed $(rsvg-convert --version)" >&2
