# Writes ALZ_OUTPUT (alz_build_info.h) from cmake/alz_build_info.h.in: ALZ_VERSION and the
# source tree's `git describe --always --dirty` ("unknown" without git or outside a checkout).
# Run by cmake/build_info.cmake:  cmake -DALZ_SOURCE_DIR=... -DALZ_OUTPUT=... -DALZ_VERSION=... -P
find_package(Git QUIET)
set(ALZ_GIT_DESCRIBE "unknown")
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty
                  WORKING_DIRECTORY ${ALZ_SOURCE_DIR}
                  OUTPUT_VARIABLE describe OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE result ERROR_QUIET)
  if(result EQUAL 0 AND NOT describe STREQUAL "")
    set(ALZ_GIT_DESCRIBE "${describe}")
  endif()
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/alz_build_info.h.in ${ALZ_OUTPUT} @ONLY)  # untouched when unchanged
