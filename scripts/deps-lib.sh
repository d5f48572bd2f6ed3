#!/usr/bin/env bash
# Helpers to install tools idempotently (sourced by scripts/test-deps.sh and bench/deps.sh):
# need_apt, need_cargo_bin, need_npm_dir. Each is quick when the tool is already there.

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

apt_updated=0
# need_apt PACKAGE... : installs Debian packages that are missing.
need_apt() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  echo "test-deps: apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

# need_cargo_bin BINARY CRATE VERSION [cargo install flags...] : installs a crate's binary into
# .cache/bin (outside the cargo target dir, reused across runs).
need_cargo_bin() {
  local bin=$1 crate=$2 version=$3
  shift 3
  local root="${MINIBASE_TOOLS_DIR:-$HOME/.cache/minibase-tools}"
  if [ -x "$root/bin/$bin" ]; then return 0; fi
  echo "test-deps: cargo install $crate@$version"
  CARGO_TARGET_DIR="$root/target" cargo install -q --root "$root" "$crate" --version "$version" "$@"
}

# need_npm_dir DIR : runs `npm ci`/`npm install` in DIR when node_modules is missing or stale.
need_npm_dir() {
  local dir=$1
  if [ -d "$dir/node_modules" ] && [ "$dir/node_modules" -nt "$dir/package.json" ]; then return 0; fi
  echo "test-deps: npm install in $dir"
  (cd "$dir" && if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund; else npm install --silent --no-audit --no-fund; fi)
  touch "$dir/node_modules"
}

