#!/usr/bin/env bash
# Installs what the test suite needs beyond Go: fuse3 (fusermount3 and the
# kernel's /dev/fuse user side), vim, jq and python3. Idempotent: it does
# nothing when every tool is already there. Needs root (or sudo) to install.
set -euo pipefail

need=()
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
command -v vim >/dev/null 2>&1 || need+=(vim)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v python3 >/dev/null 2>&1 || need+=(python3)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-test-deps: installing ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
