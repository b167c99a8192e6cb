# PostgreSQL server binaries (initdb, pg_ctl, postgres, pg_basebackup) for the
# PostgreSQL plugin's tests (examples/dr-postgres) and the local failover test.
# The harness runs its own primary and replica on free loopback ports in a temp
# dir; nothing here starts a server. Sourced by scripts/test.
#
# Debian installs the binaries under /usr/lib/postgresql/<version>/bin, which is
# not on PATH: export that dir as DR_PG_BINDIR for the harness.
pg_bindir() {
  if [ -n "${DR_PG_BINDIR:-}" ] && [ -x "$DR_PG_BINDIR/initdb" ]; then
    echo "$DR_PG_BINDIR"; return
  fi
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
    echo "$dir"; return
  fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

if [ -z "$(pg_bindir)" ] || [ ! -x "$(pg_bindir)/pg_basebackup" ]; then
  echo "scripts/test: installing postgresql (Debian packages)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # The package's own cluster is not used (and apt starts no service here).
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
DR_PG_BINDIR="$(pg_bindir)"
export DR_PG_BINDIR
