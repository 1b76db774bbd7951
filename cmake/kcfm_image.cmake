# kcfm_image.cmake — bootable QEMU images for KCFM entities, modelled on
# KasperskyOS's build_kos_qemu_image().
#
# An image is Debian's cloud kernel (arm64 or amd64, resolved at run time
# from the linux-image-cloud-<arch> metapackage and cached) plus a gzip newc
# initramfs written by `kcfm image build`: einit (a Go PID 1) as /init, the
# entities, extra files, and /etc/init.yaml, which einit reads to start the
# entities. Pass/fail is read from marker lines on the serial console
# (KCFM-RESULT: PASS|FAIL|TIMEOUT). See docs/images.md.
#
# Use it with `include(kcfm_image)` (this folder on CMAKE_MODULE_PATH) or
# after find_package(kcfm), whose package folder holds this file.
#
# Commands
# --------
#
#   kcfm_build_qemu_image(<name>
#       ARCH aarch64|x86_64
#       STYLE kasperskyos|linux
#       ENTITIES <target-or-file>...
#       [DRIVER <entity>] [MONITORED <entity>]
#       [INIT_YAML_IN <file>] [VARS <NAME=value>...]
#       [FILES <src=dst[:mode]>...] [DIRS <path[:mode]>...] [SYMLINKS <path=target>...]
#       [EXPECT <marker>...] [TIMEOUT <duration>]
#       [EINIT <file>] [QEMU_FLAGS <arg>...] [SMP <n>] [MEMORY <MiB>])
#
#     Builds <name>.initrd.gz (and <name>.init.yaml, the generated init.yaml)
#     in the current binary directory as part of the default build (target
#     image_<name>), and adds a target sim_<name> that boots it
#     (`cmake --build . --target sim_<name>`; the console is shown, the target
#     fails unless the EXPECT markers appear).
#
#     ENTITIES are executable targets (built for ARCH: use
#     kcfm_add_image_executable() or kcfm_add_go_entity() for cross builds,
#     or a project configured with a cross toolchain), imported executables,
#     or files. A target's entity is named after the target and installed as
#     /bin/<file name>; these target properties describe it further (the
#     KasperskyOS names, with CMake lists instead of pasted YAML):
#       EXTRA_ARGS          arguments (list)
#       EXTRA_ENV           environment (list of NAME=value)
#       EXTRA_CONNECTIONS   static channels (list of <target-entity>:<channel-id>;
#                           style kasperskyos: einit creates a socket pair per
#                           channel and passes KCFM_CHANNEL_<id>=<fd> to both ends)
#       DEPENDS_ON_ENTITY   entities to start first (list)
#       KCFM_ENTITY_NAME    class name (default: the target name)
#       KCFM_ENTITY_TASK    task name (default: the class name)
#       KCFM_ENTITY_PATH    path in the image (default /bin/<file name>)
#       KCFM_ENTITY_ROLE    service (default), oneshot, driver or monitored
#       KCFM_ENTITY_READY   a line (substring) the entity prints when ready;
#                           einit waits for it before starting the next one
#       KCFM_ENTITY_AUTOSTART  OFF: in the image and init.yaml, not started by einit
#     DRIVER names the test driver (role driver: when it exits, einit prints
#     its status and powers off); MONITORED the program FlowMonitor starts
#     (role monitored: not started by einit).
#
#     INIT_YAML_IN is an init.yaml template, as KasperskyOS's
#     einit/src/init.yaml.in: @INIT_<task>_ENTITY_CONNECTIONS@, _ARGS@, _ENV@,
#     _PATH@, @INIT_<task>_ENTITY@, @INIT_ENTITIES@, @INIT_EXTERNAL_ENTITIES@,
#     @KCFM_ARCH@, @KCFM_STYLE@, @KCFM_TIMEOUT@, @KCFM_IMAGE_NAME@ and the
#     VARS are expanded by `kcfm image build`. Without it, init.yaml is
#     generated from the entities in the order given.
#
#     FILES copies host files (src=dst, optional :mode in octal, e.g.
#     ${CMAKE_CURRENT_SOURCE_DIR}/index.html=/srv/index.html:0644); src may be
#     a generator expression such as $<TARGET_FILE:tgt>. EXPECT lists the
#     console markers that mean success (default "KCFM-RESULT: PASS"), used by
#     sim_<name> and kcfm_add_qemu_test(). TIMEOUT is einit's limit (a Go
#     duration, default 10m). EINIT overrides the einit binary (default: built
#     from this source tree for ARCH, or KCFM_EINIT_<ARCH>).
#
#   kcfm_add_qemu_test(<image-name> [NAME <test>] [EXPECT <marker>...]
#                      [FAIL <marker>...] [TIMEOUT <seconds>] [LABELS <label>...])
#
#     Adds a ctest test (default name qemu_<image-name>, label qemu) that
#     boots the image with `kcfm image run` and passes only when every EXPECT
#     marker is seen (default: the image's EXPECT) and no FAIL marker is
#     (default: "KCFM-RESULT: FAIL", "KCFM-RESULT: TIMEOUT", "Kernel panic").
#     To test that a guest fails the right way, EXPECT its FAIL line and give
#     FAIL "KCFM-RESULT: PASS". The kernel is fetched into the kernel cache on first
#     use (network access to the Debian mirror needed once).
#
#   kcfm_add_image_executable(<name> ARCH aarch64|x86_64 SOURCES <file>...
#                             [LANGUAGE C|CXX] [COMPILE_OPTIONS <opt>...]
#                             [LINK_OPTIONS <opt>...] [INCLUDE_DIRECTORIES <dir>...])
#
#     A small statically linked C/C++ program for ARCH, compiled with
#     KCFM_CC_<ARCH> / KCFM_CXX_<ARCH> (default: the project's compiler when
#     it targets ARCH, else <arch>-linux-gnu-gcc/g++). Creates target <name>
#     usable in ENTITIES.
#
#   kcfm_add_go_entity(<name> ARCH aarch64|x86_64 PACKAGE <package>
#                      [MODULE_DIR <dir>] [OUTPUT <file>])
#
#     A Go program built with CGO_ENABLED=0 GOOS=linux GOARCH=arm64|amd64
#     (static) in MODULE_DIR (default: this source tree). `go build` runs on
#     every build; its cache makes that cheap, and the output only changes
#     (and images only rebuild) when the program does.
#
# Variables
# ---------
#
#   KCFM_TOOL            the host kcfm tool. If unset: `kcfm` on PATH, else
#                        it is built from this source tree with go build.
#                        Images also depend on a target named kcfm_tools if one
#                        exists (the top-level build's tools).
#   KCFM_GO              the go command (default: GO_EXECUTABLE or `go`,
#                        also looked for in /usr/local/go/bin).
#   KCFM_KERNEL_CACHE    kernel cache directory passed to `kcfm image run`
#                        (default: kcfm's own, $KCFM_KERNEL_CACHE or
#                        ~/.cache/kcfm/kernels).
#   KCFM_EINIT_AARCH64, KCFM_EINIT_X86_64   prebuilt einit binaries (default: an
#                        installed SDK's sysroot-<arch>-linux/bin/einit, else
#                        built from the source tree).
#   KCFM_SOURCE_DIR      the kcfm source tree (default: the folder above this
#                        file's), for building einit and kcfm from source.
#   KCFM_CC_AARCH64, KCFM_CC_X86_64, KCFM_CXX_AARCH64, KCFM_CXX_X86_64
#                        compilers for kcfm_add_image_executable().

include_guard(GLOBAL)
cmake_minimum_required(VERSION 3.20)

set(_KCFM_IMAGE_DIR "${CMAKE_CURRENT_LIST_DIR}")
# Source tree (cmake/ next to runtime/ and tools/), or KCFM_SOURCE_DIR.
if(KCFM_SOURCE_DIR)
  set(_KCFM_IMAGE_SOURCE_ROOT "${KCFM_SOURCE_DIR}")
else()
  get_filename_component(_KCFM_IMAGE_SOURCE_ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
endif()
# Installed SDK layout: <prefix>/toolchain/lib/cmake/kcfm_tool/<this file>.
get_filename_component(_KCFM_IMAGE_PREFIX "${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)

# --- helpers ---------------------------------------------------------------

function(_kcfm_image_arch arch outvar)
  if(arch STREQUAL "aarch64" OR arch STREQUAL "arm64")
    set(${outvar} aarch64 PARENT_SCOPE)
  elseif(arch STREQUAL "x86_64" OR arch STREQUAL "amd64")
    set(${outvar} x86_64 PARENT_SCOPE)
  else()
    message(FATAL_ERROR "kcfm_image: ARCH must be aarch64 or x86_64, not \"${arch}\"")
  endif()
endfunction()

function(_kcfm_image_goarch arch outvar)
  if(arch STREQUAL "aarch64")
    set(${outvar} arm64 PARENT_SCOPE)
  else()
    set(${outvar} amd64 PARENT_SCOPE)
  endif()
endfunction()

# The architecture the project's own compiler targets.
function(_kcfm_image_project_arch outvar)
  string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" p)
  if(p STREQUAL "amd64" OR p STREQUAL "x86_64")
    set(${outvar} x86_64 PARENT_SCOPE)
  elseif(p STREQUAL "arm64" OR p STREQUAL "aarch64")
    set(${outvar} aarch64 PARENT_SCOPE)
  else()
    set(${outvar} "${p}" PARENT_SCOPE)
  endif()
endfunction()

function(_kcfm_image_go outvar)
  if(NOT KCFM_GO)
    if(GO_EXECUTABLE)
      set(KCFM_GO "${GO_EXECUTABLE}" CACHE FILEPATH "go command for kcfm images")
    else()
      find_program(KCFM_GO go HINTS /usr/local/go/bin ENV GOROOT PATH_SUFFIXES bin)
    endif()
  endif()
  if(NOT KCFM_GO)
    message(FATAL_ERROR "kcfm_image: Go is needed to build einit and Go entities (install Go to /usr/local/go, see INSTALL.md), or set KCFM_EINIT_<ARCH> and KCFM_TOOL to prebuilt binaries")
  endif()
  set(${outvar} "${KCFM_GO}" PARENT_SCOPE)
endfunction()

# The kcfm host tool: outvar gets its path, depvar what to depend on.
function(_kcfm_image_tool outvar depvar)
  set(dep "")
  if(TARGET kcfm_tools)
    set(dep kcfm_tools)
  endif()
  if(NOT KCFM_TOOL)
    find_program(KCFM_TOOL kcfm)
  endif()
  if(KCFM_TOOL)
    set(${outvar} "${KCFM_TOOL}" PARENT_SCOPE)
    set(${depvar} ${dep} PARENT_SCOPE)
    return()
  endif()
  # Build it from this source tree once per build tree.
  if(NOT EXISTS "${_KCFM_IMAGE_SOURCE_ROOT}/tools/cmd/kcfm")
    message(FATAL_ERROR "kcfm_image: the kcfm tool was not found; set -DKCFM_TOOL=/path/to/kcfm")
  endif()
  set(out "${CMAKE_BINARY_DIR}/kcfm-image-tool/kcfm")
  if(NOT TARGET _kcfm_image_tool)
    _kcfm_image_go(go)
    add_custom_target(_kcfm_image_tool
      COMMAND ${CMAKE_COMMAND} -E env CGO_ENABLED=1 "${go}" build -trimpath -o "${out}.new" ./tools/cmd/kcfm
      COMMAND ${CMAKE_COMMAND} -E copy_if_different "${out}.new" "${out}"
      BYPRODUCTS "${out}"
      WORKING_DIRECTORY "${_KCFM_IMAGE_SOURCE_ROOT}"
      COMMENT "go build kcfm (for images)"
      VERBATIM)
  endif()
  set(${outvar} "${out}" PARENT_SCOPE)
  set(${depvar} _kcfm_image_tool ${dep} PARENT_SCOPE)
endfunction()

# JSON string literal.
function(_kcfm_json_str value outvar)
  string(REPLACE "\\" "\\\\" value "${value}")
  string(REPLACE "\"" "\\\"" value "${value}")
  string(REPLACE "\n" "\\n" value "${value}")
  string(REPLACE "\t" "\\t" value "${value}")
  string(REPLACE "\r" "\\r" value "${value}")
  set(${outvar} "\"${value}\"" PARENT_SCOPE)
endfunction()

# JSON array of strings from a CMake list.
function(_kcfm_json_list outvar)
  set(items "")
  foreach(v IN LISTS ARGN)
    _kcfm_json_str("${v}" q)
    list(APPEND items "${q}")
  endforeach()
  list(JOIN items ", " joined)
  set(${outvar} "[${joined}]" PARENT_SCOPE)
endfunction()

# --- kcfm_add_go_entity ------------------------------------------------------

function(kcfm_add_go_entity name)
  cmake_parse_arguments(ARG "" "ARCH;PACKAGE;MODULE_DIR;OUTPUT" "" ${ARGN})
  if(NOT ARG_ARCH OR NOT ARG_PACKAGE)
    message(FATAL_ERROR "kcfm_add_go_entity(${name}): ARCH and PACKAGE are required")
  endif()
  _kcfm_image_arch("${ARG_ARCH}" arch)
  _kcfm_image_goarch(${arch} goarch)
  _kcfm_image_go(go)
  set(dir "${_KCFM_IMAGE_SOURCE_ROOT}")
  if(ARG_MODULE_DIR)
    set(dir "${ARG_MODULE_DIR}")
  endif()
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${arch}/${name}")
  if(ARG_OUTPUT)
    set(out "${ARG_OUTPUT}")
  endif()
  add_custom_target(${name} ALL
    COMMAND ${CMAKE_COMMAND} -E env CGO_ENABLED=0 GOOS=linux GOARCH=${goarch}
            "${go}" build -trimpath "-ldflags=-s -w" -o "${out}.new" "${ARG_PACKAGE}"
    COMMAND ${CMAKE_COMMAND} -E copy_if_different "${out}.new" "${out}"
    BYPRODUCTS "${out}"
    WORKING_DIRECTORY "${dir}"
    COMMENT "go build ${ARG_PACKAGE} (${goarch}, static)"
    VERBATIM)
  set_target_properties(${name} PROPERTIES KCFM_ENTITY_FILE "${out}" KCFM_ENTITY_ARCH ${arch})
endfunction()

# --- kcfm_add_image_executable ---------------------------------------------------

function(kcfm_add_image_executable name)
  cmake_parse_arguments(ARG "" "ARCH;LANGUAGE" "SOURCES;COMPILE_OPTIONS;LINK_OPTIONS;INCLUDE_DIRECTORIES" ${ARGN})
  if(NOT ARG_ARCH OR NOT ARG_SOURCES)
    message(FATAL_ERROR "kcfm_add_image_executable(${name}): ARCH and SOURCES are required")
  endif()
  _kcfm_image_arch("${ARG_ARCH}" arch)
  string(TOUPPER ${arch} ARCH)
  set(lang C)
  if(ARG_LANGUAGE)
    set(lang ${ARG_LANGUAGE})
  endif()
  _kcfm_image_project_arch(parch)
  if(lang STREQUAL "C")
    set(var KCFM_CC_${ARCH})
    set(cross ${arch}-linux-gnu-gcc)
    set(native "${CMAKE_C_COMPILER}")
  elseif(lang STREQUAL "CXX")
    set(var KCFM_CXX_${ARCH})
    set(cross ${arch}-linux-gnu-g++)
    set(native "${CMAKE_CXX_COMPILER}")
  else()
    message(FATAL_ERROR "kcfm_add_image_executable(${name}): LANGUAGE must be C or CXX")
  endif()
  if(NOT ${var})
    if(parch STREQUAL arch AND native)
      set(${var} "${native}")
    else()
      find_program(${var} ${cross})
      if(NOT ${var})
        message(FATAL_ERROR "kcfm_add_image_executable(${name}): ${cross} not found; run scripts/setup.sh "
                            "(gcc-aarch64-linux-gnu libc6-dev-arm64-cross) or set -D${var}=<compiler>")
      endif()
    endif()
  endif()
  set(cc "${${var}}")
  set(objdir "${CMAKE_CURRENT_BINARY_DIR}/${name}.${arch}.objs")
  set(out "${CMAKE_CURRENT_BINARY_DIR}/${arch}/${name}")
  set(incs "")
  foreach(d IN LISTS ARG_INCLUDE_DIRECTORIES)
    get_filename_component(d "${d}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND incs "-I${d}")
  endforeach()
  set(objs "")
  foreach(src IN LISTS ARG_SOURCES)
    get_filename_component(abs "${src}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    get_filename_component(base "${src}" NAME)
    set(obj "${objdir}/${base}.o")
    add_custom_command(OUTPUT "${obj}"
      COMMAND ${CMAKE_COMMAND} -E make_directory "${objdir}"
      COMMAND "${cc}" -O2 -g ${incs} ${ARG_COMPILE_OPTIONS} -MD -MF "${obj}.d" -c "${abs}" -o "${obj}"
      DEPENDS "${abs}"
      DEPFILE "${obj}.d"
      COMMENT "${arch} ${lang} ${base}"
      VERBATIM)
    list(APPEND objs "${obj}")
  endforeach()
  add_custom_command(OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${CMAKE_CURRENT_BINARY_DIR}/${arch}"
    COMMAND "${cc}" -static ${objs} ${ARG_LINK_OPTIONS} -o "${out}"
    DEPENDS ${objs}
    COMMENT "Linking static ${arch} executable ${name}"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS "${out}")
  set_target_properties(${name} PROPERTIES KCFM_ENTITY_FILE "${out}" KCFM_ENTITY_ARCH ${arch})
endfunction()

# einit for an architecture: KCFM_EINIT_<ARCH>, else the installed SDK's
# sysroot-<arch>-linux/bin/einit, else built from the source tree once.
function(_kcfm_image_einit arch filevar depvar)
  string(TOUPPER ${arch} ARCH)
  if(NOT KCFM_EINIT_${ARCH} AND EXISTS "${_KCFM_IMAGE_PREFIX}/sysroot-${arch}-linux/bin/einit"
     AND NOT EXISTS "${_KCFM_IMAGE_SOURCE_ROOT}/runtime/cmd/einit")
    set(KCFM_EINIT_${ARCH} "${_KCFM_IMAGE_PREFIX}/sysroot-${arch}-linux/bin/einit")
  endif()
  if(KCFM_EINIT_${ARCH})
    set(${filevar} "${KCFM_EINIT_${ARCH}}" PARENT_SCOPE)
    set(${depvar} "${KCFM_EINIT_${ARCH}}" PARENT_SCOPE)
    return()
  endif()
  if(NOT TARGET kcfm_einit_${arch})
    if(NOT EXISTS "${_KCFM_IMAGE_SOURCE_ROOT}/runtime/cmd/einit")
      message(FATAL_ERROR "kcfm_image: no einit for ${arch}: set -DKCFM_EINIT_${ARCH}=/path/to/einit "
                          "(or -DKCFM_SOURCE_DIR=<kcfm source tree> to build it)")
    endif()
    set(_dir "${CMAKE_BINARY_DIR}/kcfm-einit")
    kcfm_add_go_entity(kcfm_einit_${arch} ARCH ${arch} PACKAGE ./runtime/cmd/einit OUTPUT "${_dir}/${arch}/einit")
  endif()
  get_target_property(f kcfm_einit_${arch} KCFM_ENTITY_FILE)
  set(${filevar} "${f}" PARENT_SCOPE)
  set(${depvar} kcfm_einit_${arch} "${f}" PARENT_SCOPE)
endfunction()

# --- kcfm_build_qemu_image ---------------------------------------------------

function(kcfm_build_qemu_image name)
  cmake_parse_arguments(ARG ""
    "ARCH;STYLE;DRIVER;MONITORED;INIT_YAML_IN;TIMEOUT;EINIT;SMP;MEMORY"
    "ENTITIES;FILES;DIRS;SYMLINKS;EXPECT;VARS;QEMU_FLAGS" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "kcfm_build_qemu_image(${name}): unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_ARCH OR NOT ARG_STYLE)
    message(FATAL_ERROR "kcfm_build_qemu_image(${name}): ARCH (aarch64|x86_64) and STYLE (kasperskyos|linux) are required")
  endif()
  _kcfm_image_arch("${ARG_ARCH}" arch)
  if(NOT ARG_STYLE MATCHES "^(kasperskyos|linux)$")
    message(FATAL_ERROR "kcfm_build_qemu_image(${name}): STYLE must be kasperskyos or linux, not \"${ARG_STYLE}\"")
  endif()
  if(NOT ARG_ENTITIES AND NOT ARG_INIT_YAML_IN)
    message(FATAL_ERROR "kcfm_build_qemu_image(${name}): ENTITIES (targets or files) are required")
  endif()
  _kcfm_image_tool(kcfm kcfm_deps)

  set(deps ${kcfm_deps})
  if(ARG_EINIT)
    get_filename_component(einit "${ARG_EINIT}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND deps "${einit}")
  else()
    _kcfm_image_einit(${arch} einit edep)
    list(APPEND deps ${edep})
  endif()

  set(entities "")
  set(seen_driver OFF)
  foreach(ent IN LISTS ARG_ENTITIES)
    set(args "")
    set(env "")
    set(conns "")
    set(dependson "")
    set(role "")
    set(ready "")
    set(autostart "")
    set(path "")
    set(task "")
    if(TARGET ${ent})
      get_target_property(file ${ent} KCFM_ENTITY_FILE)
      if(NOT file)
        get_target_property(type ${ent} TYPE)
        if(NOT type STREQUAL "EXECUTABLE")
          message(FATAL_ERROR "kcfm_build_qemu_image(${name}): ENTITIES item ${ent} is a ${type} target, not an executable")
        endif()
        set(file "$<TARGET_FILE:${ent}>")
        set(fname "$<TARGET_FILE_NAME:${ent}>")
      else()
        list(APPEND deps "${file}") # custom target: add the file-level dependency too
        get_filename_component(fname "${file}" NAME)
        get_target_property(earch ${ent} KCFM_ENTITY_ARCH)
        if(earch AND NOT earch STREQUAL arch)
          message(FATAL_ERROR "kcfm_build_qemu_image(${name}): entity ${ent} is built for ${earch}, the image is ${arch}")
        endif()
      endif()
      list(APPEND deps ${ent})
      get_target_property(ename ${ent} KCFM_ENTITY_NAME)
      if(NOT ename)
        set(ename ${ent})
      endif()
      foreach(p EXTRA_ARGS EXTRA_ENV EXTRA_CONNECTIONS DEPENDS_ON_ENTITY KCFM_ENTITY_ROLE KCFM_ENTITY_READY
                KCFM_ENTITY_AUTOSTART KCFM_ENTITY_PATH KCFM_ENTITY_TASK)
        get_target_property(v ${ent} ${p})
        if(v STREQUAL "v-NOTFOUND")
          set(v "")
        endif()
        set(_p_${p} "${v}")
      endforeach()
      set(args "${_p_EXTRA_ARGS}")
      set(env "${_p_EXTRA_ENV}")
      set(conns "${_p_EXTRA_CONNECTIONS}")
      set(dependson "${_p_DEPENDS_ON_ENTITY}")
      set(role "${_p_KCFM_ENTITY_ROLE}")
      set(ready "${_p_KCFM_ENTITY_READY}")
      set(autostart "${_p_KCFM_ENTITY_AUTOSTART}")
      set(path "${_p_KCFM_ENTITY_PATH}")
      set(task "${_p_KCFM_ENTITY_TASK}")
    else()
      get_filename_component(file "${ent}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
      if(NOT EXISTS "${file}")
        message(FATAL_ERROR "kcfm_build_qemu_image(${name}): ENTITIES item \"${ent}\" is neither a target nor an existing file")
      endif()
      get_filename_component(fname "${file}" NAME)
      get_filename_component(ename "${file}" NAME_WE)
      list(APPEND deps "${file}")
    endif()
    if(NOT path)
      set(path "/bin/${fname}")
    endif()
    set(entask "${ename}")
    if(task)
      set(entask "${task}")
    endif()
    if(ARG_DRIVER AND (ARG_DRIVER STREQUAL ename OR ARG_DRIVER STREQUAL entask OR ARG_DRIVER STREQUAL ent))
      set(role driver)
      set(seen_driver ON)
    endif()
    if(ARG_MONITORED AND (ARG_MONITORED STREQUAL ename OR ARG_MONITORED STREQUAL entask OR ARG_MONITORED STREQUAL ent))
      set(role monitored)
      set(monitored_task "${entask}")
    endif()

    _kcfm_json_str("${ename}" j_name)
    _kcfm_json_str("${file}" j_src)
    _kcfm_json_str("${path}" j_path)
    set(obj "{\"name\": ${j_name}, \"src\": ${j_src}, \"path\": ${j_path}")
    if(task)
      _kcfm_json_str("${task}" j)
      string(APPEND obj ", \"task\": ${j}")
    endif()
    if(args)
      _kcfm_json_list(j ${args})
      string(APPEND obj ", \"args\": ${j}")
    endif()
    if(env)
      set(items "")
      foreach(kv IN LISTS env)
        if(NOT kv MATCHES "^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
          message(FATAL_ERROR "kcfm_build_qemu_image(${name}): EXTRA_ENV of ${ent}: \"${kv}\" is not NAME=value")
        endif()
        _kcfm_json_str("${CMAKE_MATCH_1}" k)
        _kcfm_json_str("${CMAKE_MATCH_2}" v)
        list(APPEND items "${k}: ${v}")
      endforeach()
      list(JOIN items ", " j)
      string(APPEND obj ", \"env\": {${j}}")
    endif()
    if(conns)
      set(items "")
      foreach(c IN LISTS conns)
        if(NOT c MATCHES "^([^:]+):([^:]+)$")
          message(FATAL_ERROR "kcfm_build_qemu_image(${name}): EXTRA_CONNECTIONS of ${ent}: \"${c}\" is not <target-entity>:<channel-id>")
        endif()
        _kcfm_json_str("${CMAKE_MATCH_1}" t)
        _kcfm_json_str("${CMAKE_MATCH_2}" i)
        list(APPEND items "{\"target\": ${t}, \"id\": ${i}}")
      endforeach()
      list(JOIN items ", " j)
      string(APPEND obj ", \"connections\": [${j}]")
    endif()
    if(dependson)
      _kcfm_json_list(j ${dependson})
      string(APPEND obj ", \"depends\": ${j}")
    endif()
    if(role)
      _kcfm_json_str("${role}" j)
      string(APPEND obj ", \"role\": ${j}")
    endif()
    if(ready)
      _kcfm_json_str("${ready}" j)
      string(APPEND obj ", \"ready\": ${j}")
    endif()
    if(NOT autostart STREQUAL "")
      if(autostart)
        string(APPEND obj ", \"autostart\": true")
      else()
        string(APPEND obj ", \"autostart\": false")
      endif()
    endif()
    string(APPEND obj "}")
    list(APPEND entities "${obj}")
  endforeach()
  if(ARG_DRIVER AND NOT seen_driver)
    message(FATAL_ERROR "kcfm_build_qemu_image(${name}): DRIVER ${ARG_DRIVER} is not one of the ENTITIES")
  endif()
  if(ARG_MONITORED AND NOT monitored_task)
    message(FATAL_ERROR "kcfm_build_qemu_image(${name}): MONITORED ${ARG_MONITORED} is not one of the ENTITIES")
  endif()

  set(files "")
  foreach(spec IN LISTS ARG_FILES)
    if(NOT spec MATCHES "^(.+)=(/[^:=]*)(:([0-7]+))?$")
      message(FATAL_ERROR "kcfm_build_qemu_image(${name}): FILES item \"${spec}\" is not <src>=</image/path>[:mode]")
    endif()
    set(src "${CMAKE_MATCH_1}")
    set(dst "${CMAKE_MATCH_2}")
    set(mode "${CMAKE_MATCH_4}")
    if(NOT src MATCHES "^\\$<")
      get_filename_component(src "${src}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    endif()
    list(APPEND deps "${src}")
    _kcfm_json_str("${src}" s)
    _kcfm_json_str("${dst}" d)
    set(obj "{\"src\": ${s}, \"dst\": ${d}")
    if(mode)
      string(APPEND obj ", \"mode\": \"${mode}\"")
    endif()
    list(APPEND files "${obj}}")
  endforeach()
  set(dirs "")
  foreach(spec IN LISTS ARG_DIRS)
    if(NOT spec MATCHES "^(/[^:]*)(:([0-7]+))?$")
      message(FATAL_ERROR "kcfm_build_qemu_image(${name}): DIRS item \"${spec}\" is not </image/path>[:mode]")
    endif()
    _kcfm_json_str("${CMAKE_MATCH_1}" p)
    set(obj "{\"path\": ${p}")
    if(CMAKE_MATCH_3)
      string(APPEND obj ", \"mode\": \"${CMAKE_MATCH_3}\"")
    endif()
    list(APPEND dirs "${obj}}")
  endforeach()
  set(links "")
  foreach(spec IN LISTS ARG_SYMLINKS)
    if(NOT spec MATCHES "^(/[^=]*)=(.+)$")
      message(FATAL_ERROR "kcfm_build_qemu_image(${name}): SYMLINKS item \"${spec}\" is not </image/path>=<target>")
    endif()
    _kcfm_json_str("${CMAKE_MATCH_1}" p)
    _kcfm_json_str("${CMAKE_MATCH_2}" t)
    list(APPEND links "{\"path\": ${p}, \"target\": ${t}}")
  endforeach()
  set(vars "")
  foreach(kv IN LISTS ARG_VARS)
    if(NOT kv MATCHES "^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
      message(FATAL_ERROR "kcfm_build_qemu_image(${name}): VARS item \"${kv}\" is not NAME=value")
    endif()
    _kcfm_json_str("${CMAKE_MATCH_1}" k)
    _kcfm_json_str("${CMAKE_MATCH_2}" v)
    list(APPEND vars "${k}: ${v}")
  endforeach()

  _kcfm_json_str("${name}" j_name)
  _kcfm_json_str("${einit}" j_einit)
  set(json "{\n  \"version\": 1,\n  \"name\": ${j_name},\n  \"arch\": \"${arch}\",\n  \"style\": \"${ARG_STYLE}\",\n  \"init\": ${j_einit}")
  if(ARG_TIMEOUT)
    _kcfm_json_str("${ARG_TIMEOUT}" j)
    string(APPEND json ",\n  \"timeout\": ${j}")
  endif()
  if(ARG_INIT_YAML_IN)
    get_filename_component(tmpl "${ARG_INIT_YAML_IN}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND deps "${tmpl}")
    _kcfm_json_str("${tmpl}" j)
    string(APPEND json ",\n  \"init_yaml_in\": ${j}")
  endif()
  if(monitored_task)
    _kcfm_json_str("${monitored_task}" j)
    string(APPEND json ",\n  \"monitored\": ${j}")
  endif()
  foreach(section entities files dirs links vars)
    set(key ${section})
    if(section STREQUAL "links")
      set(key symlinks)
    endif()
    if(${section})
      if(section STREQUAL "vars")
        list(JOIN ${section} ", " j)
        string(APPEND json ",\n  \"vars\": {${j}}")
      else()
        list(JOIN ${section} ",\n    " j)
        string(APPEND json ",\n  \"${key}\": [\n    ${j}\n  ]")
      endif()
    endif()
  endforeach()
  string(APPEND json "\n}\n")

  set(manifest "${CMAKE_CURRENT_BINARY_DIR}/${name}.manifest.json")
  set(initrd "${CMAKE_CURRENT_BINARY_DIR}/${name}.initrd.gz")
  set(inityaml "${CMAKE_CURRENT_BINARY_DIR}/${name}.init.yaml")
  file(GENERATE OUTPUT "${manifest}" CONTENT "${json}")
  add_custom_command(OUTPUT "${initrd}" "${inityaml}"
    COMMAND "${kcfm}" image build --manifest "${manifest}" -o "${initrd}" --init-yaml "${inityaml}"
    DEPENDS "${manifest}" ${deps}
    COMMENT "Building QEMU image ${name} (${arch}, ${ARG_STYLE})"
    VERBATIM)
  add_custom_target(image_${name} ALL DEPENDS "${initrd}")

  set(expect ${ARG_EXPECT})
  if(NOT expect)
    set(expect "KCFM-RESULT: PASS")
  endif()
  set(runargs image run --arch ${arch} --initrd "${initrd}")
  if(KCFM_KERNEL_CACHE)
    list(APPEND runargs --cache "${KCFM_KERNEL_CACHE}")
  endif()
  if(ARG_SMP)
    list(APPEND runargs --smp ${ARG_SMP})
  endif()
  if(ARG_MEMORY)
    list(APPEND runargs --memory ${ARG_MEMORY})
  endif()
  foreach(q IN LISTS ARG_QEMU_FLAGS)
    list(APPEND runargs "--qemu-arg=${q}")
  endforeach()
  set_target_properties(image_${name} PROPERTIES
    KCFM_IMAGE_FILE "${initrd}" KCFM_IMAGE_ARCH ${arch} KCFM_IMAGE_EXPECT "${expect}"
    KCFM_IMAGE_RUN_ARGS "${runargs}" KCFM_IMAGE_TOOL "${kcfm}")
  set(expargs "")
  foreach(m IN LISTS expect)
    list(APPEND expargs --expect "${m}")
  endforeach()
  add_custom_target(sim_${name}
    COMMAND "${kcfm}" ${runargs} ${expargs}
    DEPENDS image_${name} ${kcfm_deps}
    USES_TERMINAL
    COMMENT "Booting ${name} under qemu-system-${arch}"
    VERBATIM)
endfunction()

# --- kcfm_add_qemu_test --------------------------------------------------------

function(kcfm_add_qemu_test image)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "EXPECT;FAIL;LABELS" ${ARGN})
  if(NOT TARGET image_${image})
    message(FATAL_ERROR "kcfm_add_qemu_test(${image}): no image ${image}; call kcfm_build_qemu_image(${image} ...) first")
  endif()
  set(test qemu_${image})
  if(ARG_NAME)
    set(test ${ARG_NAME})
  endif()
  get_target_property(kcfm image_${image} KCFM_IMAGE_TOOL)
  get_target_property(runargs image_${image} KCFM_IMAGE_RUN_ARGS)
  get_target_property(expect image_${image} KCFM_IMAGE_EXPECT)
  if(ARG_EXPECT)
    set(expect ${ARG_EXPECT})
  endif()
  set(timeout 300)
  if(ARG_TIMEOUT)
    set(timeout ${ARG_TIMEOUT})
  endif()
  set(expargs "")
  foreach(m IN LISTS expect)
    list(APPEND expargs --expect "${m}")
  endforeach()
  foreach(m IN LISTS ARG_FAIL)
    list(APPEND expargs --fail "${m}")
  endforeach()
  add_test(NAME ${test} COMMAND "${kcfm}" ${runargs} ${expargs} --timeout ${timeout})
  # The first run may download the kernel (ctest TIMEOUT covers it). Two
  # TCG CPUs per guest: reserve both so parallel ctest does not starve it.
  math(EXPR ctest_timeout "${timeout} + 120")
  set_tests_properties(${test} PROPERTIES LABELS "qemu;${ARG_LABELS}" TIMEOUT ${ctest_timeout} PROCESSORS 2)
endfunction()
