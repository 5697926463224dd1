# Finds ns-3 inside the PyPI `ns3` wheel (NS3_ROOT = site-packages/ns3) and defines ns3::<module>.
# The wheel's own CMake config names its build machine's paths, so we describe the libraries ourselves.
if(NOT NS3_ROOT)
  message(FATAL_ERROR "FindNs3: set NS3_ROOT to the ns3 wheel's directory (site-packages/ns3)")
endif()
set(NS3_INCLUDE_DIR "${NS3_ROOT}/include")
set(NS3_LIB_DIR "${NS3_ROOT}/lib64")
if(NOT NS3_VERSION)
  file(GLOB _ns3_core "${NS3_LIB_DIR}/libns3.*-core.so")
  if(NOT _ns3_core)
    message(FATAL_ERROR "FindNs3: no libns3.*-core.so in ${NS3_LIB_DIR}")
  endif()
  list(GET _ns3_core 0 _ns3_core)
  string(REGEX REPLACE ".*libns3\\.([0-9.]+)-core\\.so$" "\\1" NS3_VERSION "${_ns3_core}")
endif()
# The definitions the wheel's libraries were compiled with.
set(NS3_DEFINITIONS __LINUX__ NS3_BUILD_PROFILE_RELEASE HAVE_SQLITE3 HAVE_LIBXML2 HAVE_GSL NS3_LOG_ENABLE NS3_ASSERT_ENABLE)
foreach(_module IN LISTS Ns3_FIND_COMPONENTS)
  set(_lib "${NS3_LIB_DIR}/libns3.${NS3_VERSION}-${_module}.so")
  if(NOT EXISTS "${_lib}")
    message(FATAL_ERROR "FindNs3: ns-3 module '${_module}' not found (expected ${_lib})")
  endif()
  if(NOT TARGET ns3::${_module})
    add_library(ns3::${_module} SHARED IMPORTED)
    set_target_properties(ns3::${_module} PROPERTIES
      IMPORTED_LOCATION "${_lib}"
      INTERFACE_INCLUDE_DIRECTORIES "${NS3_INCLUDE_DIR}"
      INTERFACE_COMPILE_DEFINITIONS "${NS3_DEFINITIONS}")
  endif()
endforeach()
set(Ns3_FOUND TRUE)
