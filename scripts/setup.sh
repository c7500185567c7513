#!/usr/bin/env bash
# Sets up ponder on a fresh Debian 12 machine: installs the Debian packages it needs, builds it,
# and (unless --no-run) runs it once on the default model. The default model is $PONDER_MODEL,
# else ../shared/models/stories260K.gguf, else a model already in the cache (`ponder list`), else
# it pulls $PONDER_PULL (default qwen3-0.6b) from Hugging Face: the only network access here.
#   bash scripts/setup.sh            # install, build, run
#   bash scripts/setup.sh --deps     # install packages only
#   bash scripts/setup.sh --no-run   # install and build
# Optional, not run here: the aarch64 cross build of the kernels tested under qemu-user
# (packages g++-aarch64-linux-gnu qemu-user): bash scripts/cross-arm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake ninja-build pkg-config git clang clang-format libclang-rt-14-dev
          libgtest-dev libgmock-dev libbenchmark-dev libpcre2-dev nlohmann-json3-dev
          libcpp-httplib-dev libcli11-dev libcurl4-openssl-dev python3)

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    # Node.js (for the server's end-to-end tests with the official openai client): Debian's
    # packages only when no node is installed (some images ship nodesource's, which conflicts).
    if ! command -v node >/dev/null 2>&1; then missing+=(nodejs npm); fi
    if [ ${#missing[@]} -eq 0 ]; then return; fi
    echo "setup: installing ${missing[*]}"
    local SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() {
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build
}

default_model() {
    if [ -n "${PONDER_MODEL:-}" ]; then echo "$PONDER_MODEL"; return; fi
    if [ -f ../shared/models/stories260K.gguf ]; then echo ../shared/models/stories260K.gguf; return; fi
    echo ""
}

mode="${1:-all}"
install_packages
[ "$mode" = "--deps" ] && exit 0
build
[ "$mode" = "--no-run" ] && exit 0

# The path of the cached model named $1 (any cached model when $1 is empty), or "".
cached_model() {
    ./build/ponder list --json 2>/dev/null | python3 -c '
import json, sys
want = sys.argv[1]
for m in json.load(sys.stdin):
    if not want or m["name"] == want:
        print(m["path"])
        break
' "${1:-}" 2>/dev/null || true
}

model="$(default_model)"
if [ -z "$model" ]; then
    model="$(cached_model)"
fi
if [ -z "$model" ]; then
    name="${PONDER_PULL:-qwen3-0.6b}"
    echo "setup: no model found; pulling $name (or set PONDER_MODEL=/path/to/model.gguf)"
    if ! ./build/ponder pull "$name"; then
        echo "setup: built ./build/ponder, but could not download $name."
        echo "       Run \`./build/ponder pull $name\` again (it resumes), or set"
        echo "       PONDER_MODEL=/path/to/model.gguf (any GGUF file) and run this again."
        exit 1
    fi
    model="$(cached_model "$name")"
    [ -n "$model" ] || model="$name"
fi
# `ponder run --help` exits 0 even without a run command (CLI11 handles --help first), so ask
# the command list instead.
if ./build/ponder --help 2>/dev/null | grep -qE '^ +run +'; then
    ./build/ponder run -m "$model" -p "Once upon a time" -n 48
else
    ./build/ponder info "$model"
fi
