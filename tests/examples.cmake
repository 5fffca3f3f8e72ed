# Included from tests/CMakeLists.txt: the examples, the weft program and the
# install check, run as ctests in every test mode (plain, ASan, TSan).
#
# Each example is run by examples/check.sh, which fails on a non-zero exit
# or any sanitizer report and checks the output against the "expect:" lines
# at the end of the example's source.

set(WEFT_CHECK ${PROJECT_SOURCE_DIR}/examples/check.sh)

foreach(name ${WEFT_EXAMPLES_LIST})
  add_test(NAME example_${name}
           COMMAND sh ${WEFT_CHECK} ${PROJECT_SOURCE_DIR}/examples/${name}.c expect
                   $<TARGET_FILE:ex_${name}>)
  set_tests_properties(example_${name} PROPERTIES
                       ENVIRONMENT "${WEFT_TEST_ENV}" TIMEOUT 120 LABELS example)
endforeach()

# The weft program: each subcommand's expected lines are tagged in its source.
set(_weft_src ${PROJECT_SOURCE_DIR}/tools/weft/main.c)
foreach(cmd demo info help)
  add_test(NAME weft_${cmd}
           COMMAND sh ${WEFT_CHECK} ${_weft_src} expect-${cmd} $<TARGET_FILE:weft_cli> ${cmd})
  set_tests_properties(weft_${cmd} PROPERTIES
                       ENVIRONMENT "${WEFT_TEST_ENV}" TIMEOUT 120 LABELS tool)
endforeach()
# The quick tour: its plain progress lines (the test's stdout is no
# terminal) and table, then its JSON, CSV and SVG checked by
# check_tour.sh. (No argument runs the full tour: `make run`.) An unknown
# subcommand prints the usage on stderr and exits 2.
add_test(NAME weft_tour
         COMMAND sh ${WEFT_CHECK} ${_weft_src} expect-tour $<TARGET_FILE:weft_cli> tour --quick)
add_test(NAME weft_tour_files
         COMMAND sh ${PROJECT_SOURCE_DIR}/tools/weft/check_tour.sh $<TARGET_FILE:weft_cli>)
add_test(NAME weft_unknown
         COMMAND sh ${PROJECT_SOURCE_DIR}/tools/weft/check_usage.sh $<TARGET_FILE:weft_cli>)
set_tests_properties(weft_tour weft_tour_files weft_unknown PROPERTIES
                     ENVIRONMENT "${WEFT_TEST_ENV}" TIMEOUT 300 LABELS tool)

# Install into a temporary prefix and build two consumers against it
# (pkg-config and find_package). Only for the plain build: the sanitizer
# builds would need the sanitizer runtimes in the consumers too.
if(WEFT_SANITIZE STREQUAL "" AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_install.sh)
  add_test(NAME install_consumers
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_install.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(install_consumers PROPERTIES TIMEOUT 300 LABELS install)
  # And a build without libcurl: the rest of weft builds, http says off.
  add_test(NAME build_without_libcurl
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_no_http.sh ${PROJECT_SOURCE_DIR})
  set_tests_properties(build_without_libcurl PROPERTIES TIMEOUT 600 LABELS install)
endif()
