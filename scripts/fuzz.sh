#!/usr/bin/env bash
# Runs one libFuzzer target for a while: scripts/fuzz.sh NAME [SECONDS] (default 600).
# NAME is a tests/fuzz/fuzz_<NAME>.cpp target (gguf, jinja, tokenizer). Builds with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer in build-fuzz/, starts from a copy of the
# seed corpus (tests/fuzz/corpus/NAME) so the repository is not modified, and writes any
# crashing input to build-fuzz/crash-*. Exits non-zero when the fuzzer finds a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/fuzz.sh NAME [SECONDS]}
secs=${2:-600}
[ -f "tests/fuzz/fuzz_${name}.cpp" ] || { echo "fuzz.sh: no target tests/fuzz/fuzz_${name}.cpp" >&2; exit 2; }
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPONDER_FUZZ=ON -DPONDER_SANITIZE=address,undefined >/dev/null
cmake --build build-fuzz --target "fuzz_${name}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "tests/fuzz/corpus/${name}/." "$work/"
./build-fuzz/tests/fuzz_"${name}" "$work" -max_total_time="$secs" -rss_limit_mb=2048 \
    -max_len=65536 -artifact_prefix=build-fuzz/
