# FindNs3.cmake: ns-3 as shipped by the PyPI `ns3` wheel.
#
#   find_package(Ns3 REQUIRED COMPONENTS core network ...)
#
# Input:
#   NS3_ROOT     the wheel's directory, site-packages/ns3 (holds include/ and lib64/). If unset, the
#                environment variable NS3_ROOT, then the first Python 3 interpreter found is asked.
#   NS3_VERSION  ns-3 version in the library file names (libns<version>-<module>.so, e.g. 3.44);
#                empty: detect.
#
# Output:
#   ns3::<module>          one IMPORTED SHARED target per requested component; each carries the include
#                          directory and the compile definitions the wheel's libraries were built with
#   Ns3_FOUND, Ns3_<module>_FOUND, Ns3_VERSION
#   NS3_INCLUDE_DIR, NS3_LIB_DIR, NS3_DEFINITIONS
#
# The wheel ships its own CMake package config (lib64/cmake/ns3), but that one names the paths of the
# machine the wheel was built on, so it cannot be used; this finder only needs the file layout.

set(NS3_ROOT "" CACHE PATH "Directory of the ns3 wheel (site-packages/ns3)")
set(NS3_VERSION "" CACHE STRING "ns-3 version in the library names, as in libns<version>-core.so; empty: detect")

if(NOT NS3_ROOT AND DEFINED ENV{NS3_ROOT})
  set(NS3_ROOT "$ENV{NS3_ROOT}" CACHE PATH "Directory of the ns3 wheel (site-packages/ns3)" FORCE)
endif()
if(NOT NS3_ROOT)
  # Convenience for running CMake by hand; ns6g.core.build always passes NS3_ROOT. find_spec, not import:
  # importing ns3 loads cppyy, which takes seconds.
  find_package(Python3 QUIET COMPONENTS Interpreter)
  if(Python3_Interpreter_FOUND)
    execute_process(
      COMMAND "${Python3_EXECUTABLE}" -c
              "import importlib.util as u; s = u.find_spec('ns3'); print(list(s.submodule_search_locations)[0] if s else '')"
      OUTPUT_VARIABLE _ns3_root_guess OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(_ns3_root_guess)
      set(NS3_ROOT "${_ns3_root_guess}" CACHE PATH "Directory of the ns3 wheel (site-packages/ns3)" FORCE)
    endif()
  endif()
endif()
if(NOT NS3_ROOT)
  message(FATAL_ERROR "FindNs3: NS3_ROOT is not set; pass -DNS3_ROOT=<site-packages>/ns3 "
                      "(the directory of the PyPI ns3 wheel, which holds include/ and lib64/)")
endif()

set(NS3_INCLUDE_DIR "${NS3_ROOT}/include")
set(NS3_LIB_DIR "${NS3_ROOT}/lib64")
if(NOT EXISTS "${NS3_INCLUDE_DIR}/ns3/core-module.h")
  message(FATAL_ERROR "FindNs3: no ns-3 headers under ${NS3_INCLUDE_DIR} (expected ns3/core-module.h); "
                      "is NS3_ROOT=${NS3_ROOT} the ns3 wheel's directory?")
endif()

# The version is part of every library's file name, so detect it from the core library.
set(Ns3_VERSION "${NS3_VERSION}")
if(NOT Ns3_VERSION)
  file(GLOB _ns3_cores "${NS3_LIB_DIR}/libns[0-9]*-core.so")
  list(LENGTH _ns3_cores _ns3_n)
  if(_ns3_n EQUAL 0)
    message(FATAL_ERROR "FindNs3: no ns-3 core library (libns<version>-core.so) in ${NS3_LIB_DIR}")
  elseif(_ns3_n GREATER 1)
    message(FATAL_ERROR "FindNs3: several ns-3 versions in ${NS3_LIB_DIR} (${_ns3_cores}); "
                        "choose one with -DNS3_VERSION=<version>")
  endif()
  string(REGEX REPLACE "^.*/libns([0-9][^/]*)-core\\.so$" "\\1" Ns3_VERSION "${_ns3_cores}")
endif()

# The definitions the wheel's libraries were compiled with. Headers change layout and inline code with
# some of them (logging, asserts), so code that links against these libraries must use the same set.
set(NS3_DEFINITIONS
    __LINUX__ NS3_BUILD_PROFILE_RELEASE HAVE_SQLITE3 HAVE_LIBXML2 HAVE_GSL NS3_LOG_ENABLE NS3_ASSERT_ENABLE)

set(_ns3_missing)
foreach(_ns3_module IN LISTS Ns3_FIND_COMPONENTS)
  set(_ns3_lib "${NS3_LIB_DIR}/libns${Ns3_VERSION}-${_ns3_module}.so")
  if(NOT EXISTS "${_ns3_lib}")
    set(Ns3_${_ns3_module}_FOUND FALSE)
    if(Ns3_FIND_REQUIRED_${_ns3_module})
      list(APPEND _ns3_missing "${_ns3_module} (${_ns3_lib})")
    endif()
    continue()
  endif()
  set(Ns3_${_ns3_module}_FOUND TRUE)
  if(NOT TARGET ns3::${_ns3_module})
    add_library(ns3::${_ns3_module} SHARED IMPORTED)
    set_target_properties(ns3::${_ns3_module} PROPERTIES
      IMPORTED_LOCATION "${_ns3_lib}"
      IMPORTED_SONAME "libns${Ns3_VERSION}-${_ns3_module}.so"
      INTERFACE_INCLUDE_DIRECTORIES "${NS3_INCLUDE_DIR}"
      INTERFACE_COMPILE_DEFINITIONS "${NS3_DEFINITIONS}")
  endif()
endforeach()

if(_ns3_missing)
  file(GLOB _ns3_present RELATIVE "${NS3_LIB_DIR}" "${NS3_LIB_DIR}/libns${Ns3_VERSION}-*.so")
  string(REPLACE "libns${Ns3_VERSION}-" "" _ns3_present "${_ns3_present}")
  string(REPLACE ".so" "" _ns3_present "${_ns3_present}")
  list(SORT _ns3_present)
  list(JOIN _ns3_missing "\n  " _ns3_missing_text)
  list(JOIN _ns3_present " " _ns3_present_text)
  message(FATAL_ERROR "FindNs3: ns-3 ${Ns3_VERSION} module library not found:\n  ${_ns3_missing_text}\n"
                      "modules present in ${NS3_LIB_DIR}: ${_ns3_present_text}")
endif()

set(Ns3_FOUND TRUE)
if(NOT Ns3_FIND_QUIETLY)
  message(STATUS "Found ns-3 ${Ns3_VERSION}: ${NS3_ROOT}")
endif()
