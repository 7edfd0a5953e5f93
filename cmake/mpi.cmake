# Decides whether the distributed code (dist/) talks to MPI and NCCL.
#   ALZ_MPI=AUTO (default): MPI when find_package(MPI) finds it (Debian: libopenmpi-dev), else
#   every run is a single process. NCCL (the GPU all-reduce) when CUDA and MPI are both on and
#   nccl.h / libnccl.so are found (the CUDA toolkit's own copy first). MPI headers are seen by
#   dist/ alone (PRIVATE to alz_dist).
set(ALZ_MPI AUTO CACHE STRING "ON, OFF or AUTO")
set(ALZ_HAS_MPI OFF)
set(ALZ_HAS_NCCL OFF)
string(TOUPPER "${ALZ_MPI}" alz_mpi_mode)
if(NOT alz_mpi_mode STREQUAL "OFF")
  if(alz_mpi_mode STREQUAL "ON")
    find_package(MPI REQUIRED COMPONENTS C)
  else()
    find_package(MPI COMPONENTS C)
  endif()
  if(MPI_C_FOUND)
    set(ALZ_HAS_MPI ON)
    find_program(ALZ_MPIEXEC NAMES ${MPIEXEC_EXECUTABLE} mpiexec mpirun)
  endif()
endif()
if(ALZ_HAS_MPI AND ALZ_HAS_CUDA)
  find_path(ALZ_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/include /usr/local/include)
  find_library(ALZ_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/lib/x86_64-linux-gnu)
  if(ALZ_NCCL_INCLUDE_DIR AND ALZ_NCCL_LIBRARY)
    set(ALZ_HAS_NCCL ON)
  endif()
endif()
message(STATUS "alz: MPI ${ALZ_HAS_MPI} (${MPIEXEC_EXECUTABLE}), NCCL ${ALZ_HAS_NCCL} (${ALZ_NCCL_LIBRARY})")
