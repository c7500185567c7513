# Cross build for 64-bit ARM Linux with Debian's cross compiler (g++-aarch64-linux-gnu); the
# binaries run under qemu-user with the target's libraries from /usr/aarch64-linux-gnu.
#   cmake -S . -B build-arm -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DPONDER_KERNELS_ONLY=ON
# scripts/cross-arm.sh does this and runs the tests.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# ctest (and GoogleTest's test discovery) run the test binaries through qemu.
find_program(PONDER_QEMU_AARCH64 qemu-aarch64)
if(PONDER_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${PONDER_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
