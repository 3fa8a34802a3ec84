# Registers one CTest test per GoogleTest *suite* of an executable, discovered after each build.
#
# gtest_discover_tests() makes one process per test case; every process of ours loads LibTorch
# (about a second on 2 cores), which would dominate the suite's run time. One process per suite
# keeps CTest's report meaningful and the overhead small.

set(_clipmind_gtest_suites_script ${CMAKE_CURRENT_LIST_DIR}/GTestSuitesDiscover.cmake)

function(clipmind_discover_test_suites target)
  cmake_parse_arguments(ARG "" "TIMEOUT" "LABELS" ${ARGN})
  set(ctest_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake")
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND}
      -D "EXECUTABLE=$<TARGET_FILE:${target}>"
      -D "TARGET=${target}"
      -D "OUTPUT=${ctest_file}"
      -D "TIMEOUT=${ARG_TIMEOUT}"
      -D "LABELS=${ARG_LABELS}"
      -D "WORKING_DIRECTORY=${CMAKE_CURRENT_BINARY_DIR}"
      -P ${_clipmind_gtest_suites_script}
    BYPRODUCTS ${ctest_file}
    VERBATIM)
  # Before the target is built the file does not exist, and CTest fails on a missing include
  # file: include it through a guard that registers a placeholder "<target>_NOT_BUILT" test
  # instead (the way CMake's own gtest_discover_tests does), so a tree where only some targets
  # were built (the sanitizer run of scripts/test.sh) can still run the tests it has.
  set(guard_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_include.cmake")
  file(WRITE "${guard_file}"
    "if(EXISTS \"${ctest_file}\")\n"
    "  include(\"${ctest_file}\")\n"
    "else()\n"
    "  add_test(${target}_NOT_BUILT ${target}_NOT_BUILT)\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${guard_file}")
endfunction()
