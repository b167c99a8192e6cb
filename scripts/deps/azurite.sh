# Azurite (npm), the Azure Storage emulator dr-azure's Blob canary tests run
# against. Sourced by scripts/test. Installs azurite 3.35.0 into the user's
# cache when missing and exports DR_AZURITE_BLOB, which dr_azure::testing reads.
azurite_dir="${XDG_CACHE_HOME:-$HOME/.cache}/dr-test/azurite"
if [ ! -x "$azurite_dir/node_modules/.bin/azurite-blob" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "scripts/test: installing npm (Debian package) for azurite"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >/dev/null
  fi
  echo "scripts/test: installing azurite 3.35.0 (npm) into $azurite_dir"
  mkdir -p "$azurite_dir"
  npm install --prefix "$azurite_dir" --no-audit --no-fund --silent azurite@3.35.0 >/dev/null
fi
export DR_AZURITE_BLOB="$azurite_dir/node_modules/.bin/azurite-blob"
