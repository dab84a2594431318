#!/usr/bin/env bash
# Builds the decoder fuzz target with libFuzzer + ASan + UBSan and runs it.
# usage: native/fuzz/run.sh [SECONDS]   (default 60; needs clang, and `npm ci` for the seeds)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
out=native/fuzz/out
mkdir -p "$out/corpus"
command -v clang++ >/dev/null || { echo "fuzz: clang++ is needed (Debian: apt-get install clang)" >&2; exit 1; }
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  native/fuzz/decoder_fuzz.cc native/link_decoder.cc -o "$out/decoder_fuzz"
node native/fuzz/seeds.mjs "$out/seeds"
rc=0
"$out/decoder_fuzz" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/" \
  "$out/corpus" "$out/seeds" >"$out/last-run.log" 2>&1 || rc=$?
grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|SUMMARY)" "$out/last-run.log" || true
if [ "$rc" -ne 0 ]; then
  echo "fuzz: finding (exit $rc), see $out/last-run.log and the crash-* file beside it" >&2
  exit 1
fi
echo "fuzz: no finding in ${seconds}s"
