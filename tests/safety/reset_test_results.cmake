# ctest fixture setup (test reset_test_results): before any GoogleTest binary of this run starts,
# remove every result file of earlier runs and write the run-started marker the hazard-log check reads.
if(NOT RESULTS)
  message(FATAL_ERROR "pass -DRESULTS=<test-results dir>")
endif()
file(MAKE_DIRECTORY "${RESULTS}")
file(GLOB old_results "${RESULTS}/*.xml")
if(old_results)
  file(REMOVE ${old_results})
endif()
string(TIMESTAMP now "%Y-%m-%dT%H:%M:%SZ" UTC)
file(WRITE "${RESULTS}/run-started" "${now}\n")
message(STATUS "removed ${RESULTS}/*.xml; run started ${now}")
