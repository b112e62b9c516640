# SPDX-License-Identifier: MIT
# register.cmake - run by ctest each time it starts (a TEST_INCLUDE_FILES
# entry of tests/CMakeLists.txt): registers the contract suite, VARIANT x
# CASE, and the crash matrix, one test per VARIANT, from what the built
# programs list (`contract --variants`, `contract --list`,
# `crash_matrix --variants`). The variants come from the transport tables
# in src/transport/*.c, so a transport added to the library gets its rows
# with no edit here. Set by the includer: IPK_CONTRACT_EXE, IPK_CRASH_EXE,
# IPK_TEST_TIMEOUT, IPK_TEST_HOOKS.

# Lines of `exe args...` into out; a program not built yet gives one test
# that fails and says so, in place of its rows.
function(ipk_listing out exe)
  set(${out} "" PARENT_SCOPE)
  get_filename_component(n "${exe}" NAME)
  if(NOT EXISTS "${exe}")
    add_test("${n}-not-built" "${exe}")
    return()
  endif()
  execute_process(COMMAND "${exe}" ${ARGN} OUTPUT_VARIABLE o
    RESULT_VARIABLE rc ERROR_VARIABLE e)
  if(NOT rc EQUAL 0)
    message(WARNING "${n} ${ARGN} failed (${rc}): ${e}")
    add_test("${n}-listing-failed" "${exe}" ${ARGN})
    return()
  endif()
  string(REGEX REPLACE "\n$" "" o "${o}")
  string(REPLACE "\n" ";" o "${o}")
  set(${out} "${o}" PARENT_SCOPE)
endfunction()

# The contract suite: lines "NAME SCHEME [QUERY]".
ipk_listing(variants "${IPK_CONTRACT_EXE}" --variants)
ipk_listing(cases "${IPK_CONTRACT_EXE}" --list)
foreach(line IN LISTS variants)
  if(NOT line MATCHES "^([^ ]+) ([^ ]+) ?(.*)$")
    continue()
  endif()
  set(v "${CMAKE_MATCH_1}")
  set(scheme "${CMAKE_MATCH_2}")
  set(q "${CMAKE_MATCH_3}")
  foreach(c IN LISTS cases)
    add_test("${v} ${c}" "${IPK_CONTRACT_EXE}" "${v}" "${c}" ${q})
    set_tests_properties("${v} ${c}" PROPERTIES TIMEOUT ${IPK_TEST_TIMEOUT}
      SKIP_RETURN_CODE 77 LABELS "contract;${scheme}")
  endforeach()
endforeach()

# The pattern section: lines "SCHEME", rows "pattern SCHEME CASE".
if(IPK_PATTERN_EXE)
  ipk_listing(pvariants "${IPK_PATTERN_EXE}" --variants)
  ipk_listing(pcases "${IPK_PATTERN_EXE}" --list)
  foreach(scheme IN LISTS pvariants)
    foreach(c IN LISTS pcases)
      add_test("pattern ${scheme} ${c}" "${IPK_PATTERN_EXE}" "${scheme}" "${c}")
      set_tests_properties("pattern ${scheme} ${c}" PROPERTIES
        TIMEOUT ${IPK_TEST_TIMEOUT} SKIP_RETURN_CODE 77
        LABELS "pattern;${scheme}")
    endforeach()
  endforeach()
endif()

# The crash matrix: lines "NAME SCHEME SITES [QUERY]". The in-library crash
# sites exist only in test-hook builds (make hooks), and only for variants
# whose victim can dial (SITES 1).
ipk_listing(variants "${IPK_CRASH_EXE}" --variants)
foreach(line IN LISTS variants)
  if(NOT line MATCHES "^([^ ]+) ([^ ]+) ([01]) ?(.*)$")
    continue()
  endif()
  set(v "${CMAKE_MATCH_1}")
  set(sites "${CMAKE_MATCH_3}")
  set(q "${CMAKE_MATCH_4}")
  add_test("crash ${v}" "${IPK_CRASH_EXE}" "${v}" ${q})
  set_tests_properties("crash ${v}" PROPERTIES TIMEOUT ${IPK_TEST_TIMEOUT}
    SKIP_RETURN_CODE 77 LABELS crash)
  if(IPK_TEST_HOOKS AND sites)
    add_test("crash-sites ${v}" "${IPK_CRASH_EXE}" "${v}" ${q})
    set_tests_properties("crash-sites ${v}" PROPERTIES
      TIMEOUT ${IPK_TEST_TIMEOUT} SKIP_RETURN_CODE 77 LABELS crash-sites
      ENVIRONMENT "IPK_CRASH_SITES=1")
  endif()
endforeach()
