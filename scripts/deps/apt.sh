# Debian packages the tests need: redis-server (dr-redis's emulator tests),
# chromium (the HTML report's screenshot test), etcd-server (dr-etcd's
# clusters) and protobuf-compiler (`protoc`: dr-etcd's build compiles etcd's
# gRPC definitions; `dr demo` never builds it). Sourced by scripts/test and
# .ci/run.
need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "scripts/test: installing ${need_apt[*]} (Debian packages)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# apt does not start a redis or etcd service here; the tests start their own
# servers on free loopback ports and stop them.
