#!/usr/bin/env bash
# Install the peer tools bench/bench_peers.py compares vault with (issue 6):
#   jrnl          from PyPI, into its own venv under bench/.work/peers/jrnl-venv
#                 (never into the project's environment or dependencies);
#   pass          from Debian (brings GnuPG);
#   keepassxc-cli from Debian (package keepassxc).
# Needs root for apt-get (or run the apt line yourself with sudo). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
peers="$here/.work/peers"
mkdir -p "$peers"

if ! command -v pass >/dev/null || ! command -v keepassxc-cli >/dev/null || [ ! -x /usr/bin/time ]; then
    apt_get=(apt-get)
    [ "$(id -u)" = 0 ] || apt_get=(sudo apt-get)
    "${apt_get[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends \
        pass keepassxc gnupg time
fi

if [ ! -x "$peers/jrnl-venv/bin/jrnl" ]; then
    python3 -m venv "$peers/jrnl-venv"
    "$peers/jrnl-venv/bin/pip" install -q jrnl
fi

echo "pass: $(command -v pass)"
echo "keepassxc-cli: $(command -v keepassxc-cli) $(keepassxc-cli --version 2>/dev/null || true)"
echo "jrnl: $peers/jrnl-venv/bin/jrnl $("$peers/jrnl-venv/bin/jrnl" --version 2>/dev/null | head -1)"
