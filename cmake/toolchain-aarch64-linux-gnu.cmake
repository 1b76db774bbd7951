# Toolchain file: cross-compile for aarch64 Linux with Debian's
# gcc-aarch64-linux-gnu (or clang-15 with -DKCFM_CROSS_CLANG=ON).
#   cmake -DCMAKE_TOOLCHAIN_FILE=<this file> ...
# Graphs use the target's headers (the compile database carries the cross
# compiler and its flags) and signatures use aarch64 syscall numbers.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

if(KCFM_CROSS_CLANG)
  set(CMAKE_C_COMPILER clang-15)
  set(CMAKE_CXX_COMPILER clang++-15)
  set(CMAKE_C_COMPILER_TARGET aarch64-linux-gnu)
  set(CMAKE_CXX_COMPILER_TARGET aarch64-linux-gnu)
else()
  set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
  set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
endif()

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Packages (kcfm's own CMake package lives on the host).
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
