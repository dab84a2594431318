#!/usr/bin/env bash
# Builds the addon with a sanitizer into build/<sanitizer>/ and runs the tests that exercise it
# against it, with the sanitizer's runtime preloaded into node and every process it starts. Any
# report aborts the process and fails the run.
#   run.sh address  AddressSanitizer: the decoder, record check, lifecycle, real-netlink monitor,
#                   hook-spawning and hook-identity tests.
#   run.sh thread   ThreadSanitizer: the tests whose addon code runs on more than one thread (the
#                   reader thread and its read-ahead, the spawner's queue, the lifecycle's
#                   teardown of both). Not the hook-identity test: its child is a clone of the
#                   daemon sharing its memory (CLONE_VM), which ThreadSanitizer does not support.
# NLMON_SANITIZE_TESTS="monitor.integration spawn" runs those tests alone (either sanitizer).
set -euo pipefail
cd "$(dirname "$0")/../.."
kind=${1:-}
case "$kind" in
  address) short=asan
    default="decoder record-check native-lifecycle link-table monitor.integration cli-monitor.integration cli-verbs hooks.integration spawn addresses.integration identity.integration" ;;
  thread) short=tsan
    default="native-lifecycle monitor.integration addresses.integration spawn hooks.integration" ;;
  *) echo "usage: native/sanitize/run.sh address|thread" >&2; exit 2 ;;
esac
tests=(${NLMON_SANITIZE_TESTS:-$default})
out=build/$short
mkdir -p "$out"
napi_inc=$(node -p "require('node-addon-api').include_dir")
node_inc=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
if [ ! -f "$node_inc/node_api.h" ]; then
  node_inc=$(ls -d "$HOME"/.cache/node-gyp/"$(node -p 'process.versions.node')"/include/node 2>/dev/null || true)
fi
[ -f "$node_inc/node_api.h" ] || { echo "test:$short: Node's headers (node_api.h) not found" >&2; exit 1; }
# The addon's sources, as binding.gyp lists them.
sources=$(node -p "JSON.parse(require('fs').readFileSync('binding.gyp','utf8')).targets.find((t) => t.target_name === 'nlmon').sources.join(' ')")
g++ -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize="$kind" -fPIC -shared \
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS \
  -I"$napi_inc" -I"$node_inc" $sources \
  -o "$out/nlmon.node"
export NLMON_ADDON="$PWD/$out/nlmon.node"
if [ "$kind" = address ]; then
  export LD_PRELOAD="$(g++ -print-file-name=libasan.so)"
  # Node itself is not built with ASan and keeps memory to exit: leaks are not findings here.
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
else
  # tsan-init.c starts the runtime in programs not built with it (see there). Node itself is not
  # built with ThreadSanitizer: the synchronization in its own code (atomics, libuv's close of a
  # descriptor by raw syscall) is invisible, so what its calls into libc do is not checked
  # (ignore_noninstrumented_modules), else those calls are reported as races with each other
  # and with the addon's (a descriptor number reused, a lock destroyed after its last unlock).
  gcc -O1 -fPIC -shared native/sanitize/tsan-init.c -o "$out/tsan-init.so"
  chmod 755 "$out/tsan-init.so"
  export LD_PRELOAD="$(g++ -print-file-name=libtsan.so) $PWD/$out/tsan-init.so"
  export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:ignore_noninstrumented_modules=1"
  # Without it the addon's frames in a report are unnamed.
  symbolizer=$(command -v llvm-symbolizer || true)
  [ -z "$symbolizer" ] || TSAN_OPTIONS+=":external_symbolizer_path=$symbolizer"
  gcc -O1 -g -fsanitize=thread -fPIC -shared -I"$node_inc" native/sanitize/tsan-canary.c -o "$out/canary.node"
  if node -e "process.dlopen(module, process.argv[1])" "$PWD/$out/canary.node" 2>"$out/canary.log" \
    || ! grep -q "ThreadSanitizer: data race" "$out/canary.log"; then
    echo "test:tsan: a deliberate race (tsan-canary.c) was not reported: ThreadSanitizer is not working here" >&2
    exit 1
  fi
fi
node -e "require(process.env.NLMON_ADDON); if (!require('fs').readFileSync(process.env.NLMON_ADDON).includes('__${short}_init')) process.exit(1)" \
  || { echo "test:$short: the $kind-sanitized build did not load" >&2; exit 1; }
echo "test:$short: addon $NLMON_ADDON, preloaded $LD_PRELOAD"
files=()
for t in "${tests[@]}"; do files+=("dist/test/$t.test.js"); done
node --test --test-concurrency=1 "${files[@]}"
