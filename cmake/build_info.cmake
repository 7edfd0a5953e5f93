# alz_build_info.h in the build folder: the project version and `git describe --always --dirty`
# of the source tree, for the run report (train/report_run.cpp) and any `alz --version`.
# The header is rewritten at every build by cmake/build_info_write.cmake, but only when its
# text changes, so a build recompiles its one user only when the commit moved.
set(ALZ_BUILD_INFO_DIR "${CMAKE_BINARY_DIR}/generated")
set(ALZ_BUILD_INFO_ARGS -DALZ_SOURCE_DIR=${CMAKE_SOURCE_DIR} -DALZ_OUTPUT=${ALZ_BUILD_INFO_DIR}/alz_build_info.h
                        -DALZ_VERSION=${PROJECT_VERSION} -P ${CMAKE_SOURCE_DIR}/cmake/build_info_write.cmake)
execute_process(COMMAND ${CMAKE_COMMAND} ${ALZ_BUILD_INFO_ARGS})  # present before the first build
add_custom_target(alz_build_info
  COMMAND ${CMAKE_COMMAND} ${ALZ_BUILD_INFO_ARGS}
  BYPRODUCTS ${ALZ_BUILD_INFO_DIR}/alz_build_info.h
  COMMENT "alz_build_info.h: version and commit"
  VERBATIM)
