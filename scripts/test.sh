#!/usr/bin/env bash
# Runs every check CI runs: style, the Release build with all tests, and an
# address+undefined sanitizer build running the tests of the parsers and the server.
set -euo pipefail
cd "$(dirname "$0")/.."
# A failed install (e.g. Debian's npm conflicting with a NodeSource nodejs that bundles npm)
# should not stop the checks: a package that is really missing fails the build below.
bash scripts/setup.sh --deps || echo "test.sh: warning: installing packages failed; continuing" >&2

echo "== clang-format"
files=$(git ls-files '*.cpp' '*.h' '*.hpp' '*.c' 2>/dev/null || true)
if [ -n "$files" ]; then clang-format --dry-run --Werror $files; fi

JOBS=$(nproc)
echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPONDER_WERROR=ON >/dev/null
cmake --build build -j "$JOBS"

echo "== sanitizer build (address,undefined)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPONDER_WERROR=ON \
      -DPONDER_SANITIZE=address,undefined >/dev/null
cmake --build build-asan -j "$JOBS" --target sanitize_tests

echo "== tests (sanitizer build: parsers and server)"
(cd build-asan && ctest -L "$(cat sanitize-labels.regex)" -j "$JOBS" --output-on-failure)
echo "== tests (release build: everything)"
(cd build && ctest -j "$JOBS" --output-on-failure)
