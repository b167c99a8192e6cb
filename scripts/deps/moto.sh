# moto server (AWS emulator) for dr-aws's tests: `moto[server]` 5.2.5 in a venv
# under the user's cache, installed when missing. Sourced by scripts/test.
# Exports DR_MOTO_SERVER, which dr_aws::testing::MotoServer starts (one server per
# test, on a free 127.0.0.1 port).
MOTO_VERSION="5.2.5"
MOTO_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/dr-test/moto-venv"
if [ ! -x "$MOTO_VENV/bin/moto_server" ] \
  || ! "$MOTO_VENV/bin/python" -m pip show moto 2>/dev/null | grep -qx "Version: $MOTO_VERSION"; then
  echo "scripts/test: installing moto[server]==$MOTO_VERSION into $MOTO_VENV"
  mkdir -p "$(dirname "$MOTO_VENV")"
  if ! python3 -m venv "$MOTO_VENV" >/dev/null 2>&1; then
    # Debian splits venv (ensurepip) into its own package.
    rm -rf "$MOTO_VENV"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$MOTO_VENV"
  fi
  "$MOTO_VENV/bin/python" -m pip install -q --upgrade pip
  "$MOTO_VENV/bin/python" -m pip install -q "moto[server]==$MOTO_VERSION"
fi
export DR_MOTO_SERVER="$MOTO_VENV/bin/moto_server"
