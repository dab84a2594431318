#!/usr/bin/env bash
# Builds the addon with AddressSanitizer into build/asan/ and runs the tests that exercise it (decoder,
# lifecycle, real-netlink monitor and hook-spawning tests) against it, with libasan preloaded into
# node and every process it starts. Any ASan report aborts the process and fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/asan
mkdir -p "$out"
napi_inc=$(node -p "require('node-addon-api').include_dir")
node_inc=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
if [ ! -f "$node_inc/node_api.h" ]; then
  node_inc=$(ls -d "$HOME"/.cache/node-gyp/"$(node -p 'process.versions.node')"/include/node 2>/dev/null || true)
fi
[ -f "$node_inc/node_api.h" ] || { echo "test:asan: Node's headers (node_api.h) not found" >&2; exit 1; }
# The addon's sources, as binding.gyp lists them.
sources=$(node -p "JSON.parse(require('fs').readFileSync('binding.gyp','utf8')).targets.find((t) => t.target_name === 'nlmon').sources.join(' ')")
g++ -std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address -fPIC -shared \
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS \
  -I"$napi_inc" -I"$node_inc" $sources \
  -o "$out/nlmon.node"
export NLMON_ADDON="$PWD/$out/nlmon.node"
export LD_PRELOAD="$(g++ -print-file-name=libasan.so)"
# Node itself is not built with ASan and keeps memory to exit: leaks are not findings here.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
node -e "require(process.env.NLMON_ADDON); if (!require('fs').readFileSync(process.env.NLMON_ADDON).includes('__asan_init')) process.exit(1)" \
  || { echo "test:asan: the ASan build did not load" >&2; exit 1; }
echo "test:asan: addon $NLMON_ADDON, libasan $LD_PRELOAD"
node --test --test-concurrency=1 dist/test/decoder.test.js dist/test/native-lifecycle.test.js dist/test/link-table.test.js \
  dist/test/monitor.integration.test.js dist/test/cli-monitor.integration.test.js dist/test/cli-verbs.test.js \
  dist/test/hooks.integration.test.js dist/test/spawn.test.js dist/test/addresses.integration.test.js dist/test/identity.integration.test.js
