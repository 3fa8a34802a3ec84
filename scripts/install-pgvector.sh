#!/usr/bin/env bash
# Builds and installs the pgvector extension (`vector`) into Debian 12's PostgreSQL 15, so the
# PostgreSQL store's pgvector path can be tested (tests/index/pg_store_test.cpp, PgVector*).
# Debian 12 has no pgvector package, but Debian's archive holds the upstream source of the
# trixie (Debian 13) package: this script downloads that tarball from deb.debian.org, checks
# its SHA-256 against the value pinned below, builds it with PGXS in a temp dir and installs it.
# Idempotent: does nothing when this version is already installed. Called by scripts/test.sh;
# run as root or with sudo available.
set -euo pipefail

PGVECTOR_VERSION=0.8.0
PGVECTOR_SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
PG_MAJOR=${PG_MAJOR:-15}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
tarball=pgvector_${PGVECTOR_VERSION}.orig.tar.gz
url=$MIRROR/pool/main/p/pgvector/$tarball
sources_index=$MIRROR/dists/trixie/main/source/Sources.xz
pg_config=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
control=/usr/share/postgresql/$PG_MAJOR/extension/vector.control

say() { echo "install-pgvector.sh: $*"; }
die() {
  echo "install-pgvector.sh: error: $*" >&2
  exit 1
}

if [ -f "$control" ] && grep -Eq "^default_version = '${PGVECTOR_VERSION//./\\.}'" "$control" &&
  [ -f "/usr/lib/postgresql/$PG_MAJOR/lib/vector.so" ]; then
  say "pgvector $PGVECTOR_VERSION already installed for PostgreSQL $PG_MAJOR"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root or install sudo"
  sudo_cmd=(sudo)
fi

# PGXS (headers + Makefile.global) comes with the server dev package; it pulls in clang and
# llvm-dev because Debian's server is built with JIT, so PGXS also emits LLVM bitcode.
missing=()
for p in "postgresql-server-dev-$PG_MAJOR" build-essential curl ca-certificates; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[ -x "$pg_config" ] || die "$pg_config is missing after installing postgresql-server-dev-$PG_MAJOR"

work=$(mktemp -d /tmp/pgvector-build.XXXXXX)
trap 'rm -rf "$work"' EXIT

say "downloading $url"
code=$(curl -sS -L -o "$work/$tarball" -w '%{http_code}' "$url") ||
  die "could not download $url (network?); Debian's apt servers must be reachable"
if [ "$code" != 200 ]; then
  die "$url answered HTTP $code: the archive no longer holds pgvector $PGVECTOR_VERSION.
  Look up the current pgvector source in $sources_index
  (xzcat Sources.xz | grep -A20 '^Package: pgvector'), then update PGVECTOR_VERSION and
  PGVECTOR_SHA256 in $0 (the 'Checksums-Sha256' line of the .orig.tar.gz)."
fi

actual=$(sha256sum "$work/$tarball" | cut -d' ' -f1)
if [ "$actual" != "$PGVECTOR_SHA256" ]; then
  die "SHA-256 mismatch for $url:
  expected $PGVECTOR_SHA256
  got      $actual
  Refusing to build it. Compare with 'Checksums-Sha256' in $sources_index."
fi
say "SHA-256 ok ($actual)"

tar -xzf "$work/$tarball" -C "$work"
src=$work/pgvector-$PGVECTOR_VERSION
[ -f "$src/Makefile" ] || die "$tarball does not unpack to pgvector-$PGVECTOR_VERSION/"

# pgvector's Makefile defaults to -march=native: fine, the extension is built where it runs.
# Set PGVECTOR_OPTFLAGS="" for a binary that runs on any x86-64.
optflags=()
if [ -n "${PGVECTOR_OPTFLAGS+set}" ]; then optflags=("OPTFLAGS=$PGVECTOR_OPTFLAGS"); fi
say "building in $src"
nice -n 5 make -C "$src" -j2 PG_CONFIG="$pg_config" "${optflags[@]}" >"$work/build.log" 2>&1 ||
  {
    tail -n 40 "$work/build.log" >&2
    die "build failed (log above)"
  }
"${sudo_cmd[@]}" make -C "$src" PG_CONFIG="$pg_config" "${optflags[@]}" install \
  >"$work/install.log" 2>&1 || {
  tail -n 40 "$work/install.log" >&2
  die "make install failed (log above)"
}
grep -q "^default_version = '$PGVECTOR_VERSION'" "$control" ||
  die "$control does not name version $PGVECTOR_VERSION after make install"
say "installed pgvector $PGVECTOR_VERSION into PostgreSQL $PG_MAJOR ($control)"
