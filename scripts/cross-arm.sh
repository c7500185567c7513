#!/usr/bin/env bash
# Optional: the aarch64 cross build of the kernels (src/core, src/gguf, src/kernels with their
# tests), run under qemu-user. Not part of setup.sh / test.sh. Installs Debian's cross compiler
# and qemu when missing, builds into build-arm/ and runs ctest (qemu's default CPU, "max", has
# dotprod and fp16, so the NEON level is tested), then the kernel tests again on a CPU model
# without dotprod (Cortex-A53) to check the fall-back to the scalar level.
#   bash scripts/cross-arm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(g++-aarch64-linux-gnu qemu-user libgtest-dev cmake ninja-build)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "cross-arm: installing ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

LAUNCHER=()
if command -v ccache >/dev/null 2>&1; then
    LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build-arm -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DPONDER_KERNELS_ONLY=ON \
      "${LAUNCHER[@]}" >/dev/null
cmake --build build-arm -j "$(nproc)"

echo "== tests under qemu-aarch64 (cpu max: neon + dotprod + fp16)"
(cd build-arm && ctest -j "$(nproc)" --output-on-failure)

echo "== kernel tests under qemu-aarch64 -cpu cortex-a53 (no dotprod: scalar level only)"
for t in build-arm/tests/test_dispatch build-arm/tests/test_gemm_q8 build-arm/tests/test_gemm_kquants; do
    qemu-aarch64 -cpu cortex-a53 -L /usr/aarch64-linux-gnu "$t" --gtest_brief=1
done
