# kcfm.cmake — control-flow signatures and policies for C/C++ targets.
#
# Use it with `find_package(kcfm)` (install prefix's `toolchain` on
# CMAKE_PREFIX_PATH) or `include(kcfm)` (this folder on CMAKE_MODULE_PATH).
#
# Commands
# --------
#
#   kcfm_generate_signature(<target> [OUTPUT <file>] [LIBS <graph-lib-target>...]
#                           [ENTRY <function>] [STRICT])
#
#     Builds the signature (.kcfm) of executable <target> as part of the build:
#     one `kcfm graph` step per C/C++ source of the target (with the target's
#     real compile flags, taken from the compile database, and a depfile so that
#     editing a source or a header re-graphs only the translation units that
#     depend on it), then one `kcfm link` step. Default OUTPUT:
#     `<target>.kcfm` next to the executable. Graph libraries made with
#     kcfm_make_graph_lib() are picked up from the target's link libraries
#     (directly or transitively); LIBS adds more. ENTRY names the entry function
#     (default main). STRICT makes external functions without a libc summary an
#     error. The target is compiled with -finstrument-functions and linked with
#     the KCFM runtime library (kcfm::rt), which sends function events to
#     FlowChecker when the program runs monitored and does nothing otherwise.
#
#   kcfm_make_graph_lib(<library-target> [OUTPUT <file>])
#
#     Builds the graph of a static or shared library (`<lib>.kcfmlib` next to
#     the library by default) and instruments the library. Programs that link it
#     and call kcfm_generate_signature() use the graph automatically. For a
#     library imported from another project, set the target property
#     KCFM_GRAPH_FILE to its installed graph (kcfm_install_graph_lib() writes
#     that into the exported package).
#
#   kcfm_install_graph_lib(<library-target> DESTINATION <dir> [EXPORT_FILE <var>])
#
#     Installs the library's graph and makes exported targets carry it
#     (property KCFM_GRAPH_FILE of the installed target).
#
#   kcfm_generate_audit_policy(<target> [PSL <file>] [KLOG <file>]
#                              [SECCOMP <file>] [SYSTEMD <file>] [REPORT <file>]
#                              [ENTITY <name>])
#
#     Generates the policy files from the target's signature (rebuilt whenever
#     the signature changes). At least one output must be given.
#
# Variables
# ---------
#
#   KCFM_TOOL      the host `kcfm` executable (set by the package; override to
#                  use another build).
#   KCFM_ARCH      target architecture for signatures (x86_64 or aarch64);
#                  default from CMAKE_SYSTEM_PROCESSOR.
#   KCFM_LIBC      glibc (default) or musl, or a path to a libc summary file
#                  made with `kcfm libc generate`.
#   KCFM_TARGET_TRIPLE  clang target for graphing when cross-compiling; default
#                  from CMAKE_C_COMPILER_TARGET or CMAKE_LIBRARY_ARCHITECTURE.
#   KCFM_INSTRUMENT_SILENT  ON: instrument every function. Default OFF: with
#                  GCC, the silent and flat functions of C sources (helpers that
#                  can reach no syscall, or none an attacker is after; see
#                  docs/model.md, "Silent and flat functions") are left
#                  uninstrumented through a response file
#                  (-finstrument-functions-exclude-function-list) that the link
#                  step (executables) or the graph step (graph libraries)
#                  writes; those sources are compiled after it.

include_guard(GLOBAL)
cmake_minimum_required(VERSION 3.20)

# include(kcfm) from an installed or build-tree package folder: load the
# package (tool path, runtime library) that sits next to this file.
if(NOT TARGET kcfm::rt AND EXISTS "${CMAKE_CURRENT_LIST_DIR}/kcfmConfig.cmake")
  include("${CMAKE_CURRENT_LIST_DIR}/kcfmConfig.cmake")
endif()

if(NOT KCFM_TOOL)
  find_program(KCFM_TOOL kcfm)
endif()

# --- helpers ---------------------------------------------------------------

function(_kcfm_require_tool)
  if(NOT KCFM_TOOL)
    message(FATAL_ERROR
      "kcfm: the kcfm tool was not found. Build this project's tools first "
      "(cmake --build of the kcfm source tree), or point -DKCFM_TOOL=/path/to/kcfm "
      "(or put the install prefix's toolchain on CMAKE_PREFIX_PATH and use find_package(kcfm)).")
  endif()
  if(NOT TARGET kcfm::rt)
    message(FATAL_ERROR
      "kcfm: the runtime library target kcfm::rt is not defined. Use find_package(kcfm) "
      "against an install, or include(kcfm) from the kcfm source tree's build.")
  endif()
endfunction()

function(_kcfm_arch out)
  if(KCFM_ARCH)
    set(a "${KCFM_ARCH}")
  else()
    string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" a)
  endif()
  if(a MATCHES "^(x86_64|amd64|x64)$")
    set(a x86_64)
  elseif(a MATCHES "^(aarch64|arm64)$")
    set(a aarch64)
  else()
    message(FATAL_ERROR "kcfm: unsupported target architecture '${a}' (supported: x86_64, aarch64); set KCFM_ARCH")
  endif()
  set(${out} ${a} PARENT_SCOPE)
endfunction()

function(_kcfm_check_writable file what)
  # Create the folder and write a probe file: permission bits alone do not
  # tell (root, read-only or special file systems).
  get_filename_component(dir "${file}" DIRECTORY)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E make_directory "${dir}" RESULT_VARIABLE rc1 OUTPUT_QUIET ERROR_QUIET)
  set(probe "${dir}/.kcfm-write-probe")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E touch "${probe}" RESULT_VARIABLE rc2 OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0 OR NOT EXISTS "${probe}")
    message(FATAL_ERROR "kcfm: ${what} '${file}' cannot be written: the directory '${dir}' is not writable; choose another ${what}")
  endif()
  file(REMOVE "${probe}")
endfunction()

# _kcfm_graph_sources(<target> <out-var>): add one `kcfm graph` build step per
# C/C++ source of <target>; returns the list of TU graph files.
function(_kcfm_graph_sources target out flagmode)
  get_target_property(srcs ${target} SOURCES)
  get_target_property(srcdir ${target} SOURCE_DIR)
  get_target_property(bindir ${target} BINARY_DIR)
  set(graphs "")
  set(triple "")
  if(KCFM_TARGET_TRIPLE)
    set(triple --target "${KCFM_TARGET_TRIPLE}")
  elseif(CMAKE_CROSSCOMPILING AND CMAKE_C_COMPILER_TARGET)
    set(triple --target "${CMAKE_C_COMPILER_TARGET}")
  elseif(CMAKE_CROSSCOMPILING AND CMAKE_LIBRARY_ARCHITECTURE)
    set(triple --target "${CMAKE_LIBRARY_ARCHITECTURE}")
  endif()
  foreach(src IN LISTS srcs)
    if(src MATCHES "\\$<")
      message(FATAL_ERROR "kcfm: ${target}: sources given by generator expressions are not supported (${src})")
    endif()
    get_filename_component(ext "${src}" LAST_EXT)
    string(TOLOWER "${ext}" ext)
    if(ext MATCHES "^\\.(h|hh|hpp|hxx|inc|def)$")
      continue()
    endif()
    if(NOT ext MATCHES "^\\.(c|cc|cpp|cxx|c\\+\\+|C)$")
      if(ext MATCHES "^\\.(s|S|asm|f|f90|m|mm|cu)$" OR ext STREQUAL "")
        message(FATAL_ERROR "kcfm: ${target}: source '${src}' is not C or C++ (kcfm graphs C and C++ only); move it to a library without a graph")
      endif()
      continue()
    endif()
    get_filename_component(abs "${src}" ABSOLUTE BASE_DIR "${srcdir}")
    file(RELATIVE_PATH rel "${srcdir}" "${abs}")
    string(REPLACE "../" "__/" rel "${rel}")
    set(g "${bindir}/CMakeFiles/${target}.kcfm.dir/${rel}.kcfmtu")
    get_filename_component(gdir "${g}" DIRECTORY)
    # Silent and flat functions (docs/model.md) of C sources compiled by
    # GCC are left uninstrumented: a response file the compile reads lists
    # them. For a library the graph step writes it (facts of the TU); for
    # an executable the link does (facts of the whole program), see
    # _kcfm_link_signature.
    set(flags "")
    set(flagsopt "")
    if(ext STREQUAL ".c" AND CMAKE_C_COMPILER_ID STREQUAL "GNU" AND NOT KCFM_INSTRUMENT_SILENT)
      set(f "${bindir}/CMakeFiles/${target}.kcfm.dir/${rel}.kcfmflags")
      set_property(SOURCE "${abs}" TARGET_DIRECTORY ${target} APPEND PROPERTY COMPILE_OPTIONS "@${f}")
      set_property(SOURCE "${abs}" TARGET_DIRECTORY ${target} APPEND PROPERTY OBJECT_DEPENDS "${f}")
      set(_kcfm_ordered_compile ON PARENT_SCOPE)
      if(flagmode STREQUAL "graph")
        set(flags "${f}")
        set(flagsopt --instrument-flags "${f}")
      else()
        list(APPEND linkflags "${f}")
      endif()
    endif()
    add_custom_command(
      OUTPUT "${g}" ${flags}
      COMMAND "${CMAKE_COMMAND}" -E make_directory "${gdir}"
      COMMAND "${KCFM_TOOL}" graph -p "${CMAKE_BINARY_DIR}" --headers ${triple} --depfile "${g}.d" ${flagsopt} -o "${g}" "${abs}"
      DEPENDS "${abs}" "${KCFM_TOOL}" "${CMAKE_BINARY_DIR}/compile_commands.json"
      DEPFILE "${g}.d"
      COMMENT "kcfm graph ${rel}"
      VERBATIM)
    list(APPEND graphs "${g}")
  endforeach()
  if(NOT graphs)
    message(FATAL_ERROR "kcfm: ${target} has no C or C++ sources to graph")
  endif()
  # The graphs read the compile database CMake writes for this target.
  set_property(TARGET ${target} PROPERTY EXPORT_COMPILE_COMMANDS ON)
  set(${out} "${graphs}" PARENT_SCOPE)
  set(${out}_flags "${linkflags}" PARENT_SCOPE)
endfunction()

# In the kcfm build tree the tool is built by target kcfm_tools.
function(_kcfm_depend_on_tool t)
  if(TARGET kcfm_tools)
    add_dependencies(${t} kcfm_tools)
  endif()
endfunction()

function(_kcfm_instrument target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:C,CXX>:-finstrument-functions>)
  target_link_libraries(${target} PRIVATE kcfm::rt)
endfunction()

# Collect graph libraries among the (transitive) link libraries of a target.
function(_kcfm_collect_graph_libs target out)
  set(todo ${target})
  set(seen "")
  set(found "")
  while(todo)
    list(POP_FRONT todo t)
    if(t IN_LIST seen OR NOT TARGET ${t})
      continue()
    endif()
    list(APPEND seen ${t})
    get_target_property(aliased ${t} ALIASED_TARGET)
    if(aliased)
      list(APPEND todo ${aliased})
      continue()
    endif()
    get_target_property(graph ${t} KCFM_GRAPH_FILE)
    if(graph AND NOT t STREQUAL target)
      list(APPEND found ${t})
    endif()
    get_target_property(type ${t} TYPE)
    set(libs "")
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(l ${t} LINK_LIBRARIES)
      if(l)
        list(APPEND libs ${l})
      endif()
    endif()
    get_target_property(il ${t} INTERFACE_LINK_LIBRARIES)
    if(il)
      list(APPEND libs ${il})
    endif()
    foreach(x IN LISTS libs)
      if(x MATCHES "^\\$<LINK_ONLY:(.*)>$")
        set(x "${CMAKE_MATCH_1}")
      endif()
      if(NOT x MATCHES "\\$<" AND TARGET ${x})
        list(APPEND todo ${x})
      endif()
    endforeach()
  endwhile()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

# --- kcfm_make_graph_lib ----------------------------------------------------

function(kcfm_make_graph_lib lib)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "OUTPUT" "")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "kcfm_make_graph_lib(${lib}): unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT TARGET ${lib})
    message(FATAL_ERROR "kcfm_make_graph_lib: '${lib}' is not a target; call it after add_library(${lib} ...)")
  endif()
  get_target_property(type ${lib} TYPE)
  if(type STREQUAL "STATIC_LIBRARY")
    set(kind static)
  elseif(type STREQUAL "SHARED_LIBRARY")
    set(kind shared)
  else()
    message(FATAL_ERROR "kcfm_make_graph_lib: '${lib}' is a ${type}; it must be a STATIC or SHARED library")
  endif()
  _kcfm_require_tool()
  if(ARG_OUTPUT)
    get_filename_component(out "${ARG_OUTPUT}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
    _kcfm_check_writable("${out}" "OUTPUT")
  else()
    get_target_property(bindir ${lib} BINARY_DIR)
    set(out "${bindir}/${lib}.kcfmlib")
  endif()
  set(_kcfm_ordered_compile OFF)
  _kcfm_graph_sources(${lib} graphs graph)
  add_custom_command(
    OUTPUT "${out}"
    COMMAND "${KCFM_TOOL}" link --lib "${lib}" --kind ${kind} -o "${out}" ${graphs}
    DEPENDS ${graphs} "${KCFM_TOOL}"
    COMMENT "kcfm graph library ${lib}"
    VERBATIM)
  add_custom_target(${lib}_kcfm_graph ALL DEPENDS "${out}")
  _kcfm_depend_on_tool(${lib}_kcfm_graph)
  if(_kcfm_ordered_compile)
    # The compile reads the graph step's response files.
    add_dependencies(${lib} ${lib}_kcfm_graph)
  endif()
  set_target_properties(${lib} PROPERTIES KCFM_GRAPH_FILE "${out}" KCFM_GRAPH_TARGET ${lib}_kcfm_graph)
  _kcfm_instrument(${lib})
  if(kind STREQUAL "static")
    target_compile_options(${lib} PRIVATE -fPIC)
  endif()
endfunction()

function(kcfm_install_graph_lib lib)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "DESTINATION" "")
  if(NOT ARG_DESTINATION)
    message(FATAL_ERROR "kcfm_install_graph_lib(${lib}): DESTINATION is required")
  endif()
  get_target_property(graph ${lib} KCFM_GRAPH_FILE)
  if(NOT graph)
    message(FATAL_ERROR "kcfm_install_graph_lib: ${lib} has no graph; call kcfm_make_graph_lib(${lib}) first")
  endif()
  install(FILES "${graph}" DESTINATION "${ARG_DESTINATION}")
  get_filename_component(name "${graph}" NAME)
  # Exported targets carry the installed graph's location.
  set_property(TARGET ${lib} APPEND PROPERTY EXPORT_PROPERTIES KCFM_INSTALLED_GRAPH)
  set_property(TARGET ${lib} PROPERTY KCFM_INSTALLED_GRAPH "${ARG_DESTINATION}/${name}")
endfunction()

# --- kcfm_generate_signature -------------------------------------------------

function(kcfm_generate_signature target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "STRICT" "OUTPUT;ENTRY" "LIBS")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "kcfm_generate_signature(${target}): unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "kcfm_generate_signature: '${target}' is not a target; call it after add_executable(${target} ...)")
  endif()
  get_target_property(type ${target} TYPE)
  if(NOT type STREQUAL "EXECUTABLE")
    message(FATAL_ERROR "kcfm_generate_signature: '${target}' is a ${type}; signatures are for executables (use kcfm_make_graph_lib for libraries)")
  endif()
  _kcfm_require_tool()
  foreach(l IN LISTS ARG_LIBS)
    if(NOT TARGET ${l})
      message(FATAL_ERROR "kcfm_generate_signature(${target}): LIBS entry '${l}' is not a target")
    endif()
  endforeach()
  get_target_property(bindir ${target} BINARY_DIR)
  if(ARG_OUTPUT)
    get_filename_component(out "${ARG_OUTPUT}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
    _kcfm_check_writable("${out}" "OUTPUT")
  else()
    get_target_property(rod ${target} RUNTIME_OUTPUT_DIRECTORY)
    if(rod)
      set(out "${rod}/${target}.kcfm")
    elseif(CMAKE_RUNTIME_OUTPUT_DIRECTORY)
      set(out "${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/${target}.kcfm")
    else()
      set(out "${bindir}/${target}.kcfm")
    endif()
  endif()
  _kcfm_arch(arch)
  set(_kcfm_ordered_compile OFF)
  _kcfm_graph_sources(${target} graphs link)
  add_custom_target(${target}_kcfm_graphs DEPENDS ${graphs})
  _kcfm_depend_on_tool(${target}_kcfm_graphs)
  _kcfm_instrument(${target})
  set_target_properties(${target} PROPERTIES KCFM_SIGNATURE "${out}")
  set(libc glibc)
  if(KCFM_LIBC)
    set(libc "${KCFM_LIBC}")
  endif()
  set(entry main)
  if(ARG_ENTRY)
    set(entry "${ARG_ENTRY}")
  endif()
  set(strict "")
  if(ARG_STRICT)
    set(strict --strict)
  endif()
  # The link step runs after every directory was processed, so that graph
  # libraries defined anywhere in the project are known.
  cmake_language(EVAL CODE "
    cmake_language(DEFER DIRECTORY [[${CMAKE_SOURCE_DIR}]] CALL _kcfm_link_signature
      [[${target}]] [[${out}]] [[${graphs}]] [[${ARG_LIBS}]] [[${arch}]] [[${libc}]] [[${entry}]] [[${strict}]]
      [[${graphs_flags}]])")
endfunction()

function(_kcfm_link_signature target out graphs libs arch libc entry strict flags)
  _kcfm_collect_graph_libs(${target} auto)
  list(APPEND libs ${auto})
  list(REMOVE_DUPLICATES libs)
  set(libgraphs "")
  set(deps ${target}_kcfm_graphs)
  foreach(l IN LISTS libs)
    get_target_property(g ${l} KCFM_GRAPH_FILE)
    if(NOT g)
      get_target_property(g ${l} KCFM_INSTALLED_GRAPH)
      if(g AND NOT IS_ABSOLUTE "${g}")
        get_target_property(imp ${l} IMPORTED_LOCATION)
        if(NOT imp)
          get_target_property(cfgs ${l} IMPORTED_CONFIGURATIONS)
          list(GET cfgs 0 c)
          string(TOUPPER "${c}" c)
          get_target_property(imp ${l} IMPORTED_LOCATION_${c})
        endif()
        # Installed graphs live under the prefix the library was imported from.
        get_filename_component(libdir "${imp}" DIRECTORY)
        get_filename_component(prefix "${libdir}/.." ABSOLUTE)
        set(g "${prefix}/${g}")
      endif()
    endif()
    if(NOT g)
      message(FATAL_ERROR "kcfm_generate_signature(${target}): library '${l}' has no graph; call kcfm_make_graph_lib(${l}) (or set its KCFM_GRAPH_FILE property)")
    endif()
    list(APPEND libgraphs "${g}")
    get_target_property(gt ${l} KCFM_GRAPH_TARGET)
    if(gt)
      list(APPEND deps ${gt})
    endif()
  endforeach()
  set(summary --libc "${libc}")
  set(flagsopt "")
  if(flags)
    # The link writes the response files of the target's C sources: its
    # silent and flat functions, decided with the facts of the whole
    # program; the target's compile waits for them.
    set(flagsopt --instrument-flags)
  endif()
  add_custom_command(
    OUTPUT "${out}" ${flags}
    COMMAND "${KCFM_TOOL}" link --arch ${arch} ${summary} --entry "${entry}" ${strict} ${flagsopt}
            --program "${target}" -o "${out}" ${graphs} ${libgraphs}
    DEPENDS ${graphs} ${libgraphs} "${KCFM_TOOL}"
    COMMENT "kcfm link ${target}.kcfm"
    VERBATIM)
  add_custom_target(${target}_kcfm_signature ALL DEPENDS "${out}")
  add_dependencies(${target}_kcfm_signature ${deps})
  if(flags)
    add_dependencies(${target} ${target}_kcfm_signature)
  endif()
endfunction()

# --- kcfm_generate_audit_policy ---------------------------------------------

function(kcfm_generate_audit_policy target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "PSL;KLOG;SECCOMP;SYSTEMD;REPORT;ENTITY" "")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "kcfm_generate_audit_policy(${target}): unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "kcfm_generate_audit_policy: '${target}' is not a target")
  endif()
  get_target_property(sig ${target} KCFM_SIGNATURE)
  if(NOT sig)
    message(FATAL_ERROR "kcfm_generate_audit_policy(${target}): call kcfm_generate_signature(${target}) first")
  endif()
  _kcfm_require_tool()
  set(entity ${target})
  if(ARG_ENTITY)
    set(entity "${ARG_ENTITY}")
  endif()
  set(args "")
  set(outs "")
  foreach(kind PSL KLOG SECCOMP SYSTEMD REPORT)
    if(ARG_${kind})
      get_filename_component(f "${ARG_${kind}}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
      _kcfm_check_writable("${f}" "${kind}")
      string(TOLOWER "${kind}" flag)
      list(APPEND args --${flag} "${f}")
      list(APPEND outs "${f}")
    endif()
  endforeach()
  if(NOT outs)
    message(FATAL_ERROR "kcfm_generate_audit_policy(${target}): give at least one of PSL, KLOG, SECCOMP, SYSTEMD, REPORT")
  endif()
  add_custom_command(
    OUTPUT ${outs}
    COMMAND "${KCFM_TOOL}" policy --signature "${sig}" --entity "${entity}" ${args}
    DEPENDS "${sig}" "${KCFM_TOOL}"
    COMMENT "kcfm policy ${entity}"
    VERBATIM)
  add_custom_target(${target}_kcfm_policy ALL DEPENDS ${outs})
  # The signature's target is created at the end of the configure step
  # (see kcfm_generate_signature); add_dependencies resolves names then.
  add_dependencies(${target}_kcfm_policy ${target}_kcfm_signature)
endfunction()
