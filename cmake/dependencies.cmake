# Finds every dependency and stops configure with the Debian package to install when one is
# missing. tools/setup.sh installs them all. Header-only ones (stb, nlohmann-json, CLI11) are
# also looked for in ALZ_THIRD_PARTY_INCLUDE, which tools/vendor-headers.sh fills so a machine
# without those packages (a GPU machine, say) can build from headers carried along.

function(alz_require found what package)
  if(NOT ${found})
    message(FATAL_ERROR "alz: ${what} not found. Install the Debian package '${package}' "
                        "(or run tools/setup.sh).")
  endif()
endfunction()

find_package(Threads REQUIRED)
find_package(OpenMP)
alz_require(OpenMP_CXX_FOUND "OpenMP" "libomp-dev (or gcc's libgomp)")

# OpenBLAS: the CPU GEMM. Its OpenMP build first: it runs its GEMMs on the same OpenMP thread
# pool as our own loops. The pthread build keeps its own workers spinning after each GEMM and
# on 2 cores they fight the OpenMP threads (a ResNet50V2 training step ran 2x slower with it,
# bench/RESULTS.md). Linked by full path, so the build's RPATH picks this variant whatever
# Debian's libopenblas.so.0 alternative points at; kernels/cpu/cpu_threads.cpp reports which.
set(ALZ_BLAS_DIRS)
foreach(arch x86_64-linux-gnu aarch64-linux-gnu)
  list(APPEND ALZ_BLAS_DIRS /usr/lib/${arch}/openblas-openmp)
endforeach()
find_library(OPENBLAS_LIBRARY NAMES openblas PATHS ${ALZ_BLAS_DIRS} NO_DEFAULT_PATH)
if(OPENBLAS_LIBRARY)
  set(ALZ_BLAS_SUFFIXES openblas-openmp openblas-pthread openblas)
else()
  message(WARNING "alz: OpenBLAS's OpenMP build was not found (Debian: libopenblas-openmp-dev); the CPU path "
                  "will be slower with the pthread build")
  find_library(OPENBLAS_LIBRARY NAMES openblas)
  set(ALZ_BLAS_SUFFIXES openblas-pthread openblas-openmp openblas)
endif()
find_path(OPENBLAS_INCLUDE_DIR cblas.h
          PATHS /usr/include/x86_64-linux-gnu /usr/include/aarch64-linux-gnu /usr/include
          PATH_SUFFIXES ${ALZ_BLAS_SUFFIXES})
if(OPENBLAS_INCLUDE_DIR AND OPENBLAS_LIBRARY)
  set(ALZ_OPENBLAS_FOUND TRUE)
endif()
alz_require(ALZ_OPENBLAS_FOUND "OpenBLAS (cblas.h, libopenblas)" "libopenblas-dev")

# libjpeg-turbo's TurboJPEG API: JPEG decoding, the decoder PIL and TensorFlow use (data/ only).
find_path(TURBOJPEG_INCLUDE_DIR turbojpeg.h)
find_library(TURBOJPEG_LIBRARY NAMES turbojpeg)
if(TURBOJPEG_INCLUDE_DIR AND TURBOJPEG_LIBRARY)
  set(ALZ_TURBOJPEG_FOUND TRUE)
endif()
alz_require(ALZ_TURBOJPEG_FOUND "libjpeg-turbo's TurboJPEG (turbojpeg.h, libturbojpeg)" "libturbojpeg0-dev")

# Header-only libraries: ALZ_STB_INCLUDE (data/ only), ALZ_JSON_INCLUDE (every layer),
# ALZ_CLI11_INCLUDE (cli/ only).
foreach(spec "STB|stb_image.h|stb|libstb-dev" "JSON|nlohmann/json.hpp||nlohmann-json3-dev" "CLI11|CLI/CLI.hpp||libcli11-dev")
  string(REPLACE "|" ";" parts "${spec}")
  list(GET parts 0 key)
  list(GET parts 1 header)
  list(GET parts 2 suffix)
  list(GET parts 3 package)
  string(MAKE_C_IDENTIFIER "ALZ_INC_${header}" var)
  find_path(${var} ${header} PATHS ${ALZ_THIRD_PARTY_INCLUDE} /usr/include /usr/local/include
            PATH_SUFFIXES ${suffix} NO_DEFAULT_PATH)
  alz_require(${var} "${header}" "${package}")
  set(ALZ_${key}_INCLUDE ${${var}})
endforeach()

# ONNX export (models/onnx_export.cpp; linked into the nn layer only): Debian's ONNX library for
# the generated message classes, the checker and shape inference, and the protobuf runtime it
# was built with. The ONNX package's targets (onnx, onnx_proto) name protobuf::libprotobuf, so
# protobuf is found first.
find_package(Protobuf QUIET)
find_package(ONNX QUIET CONFIG)
if(Protobuf_FOUND AND TARGET protobuf::libprotobuf AND TARGET onnx AND TARGET onnx_proto)
  set(ALZ_ONNX_FOUND TRUE)
endif()
alz_require(ALZ_ONNX_FOUND "ONNX and protobuf (onnx/onnx_pb.h, libonnx, libprotobuf)" "libonnx-dev libprotobuf-dev")

# Keras files (models/ only): HDF5's C library (legacy .h5, .weights.h5) and libzip (.keras
# archives). Debian keeps the serial HDF5 under hdf5/serial.
set(ALZ_LIB_DIRS)
foreach(arch x86_64-linux-gnu aarch64-linux-gnu)
  list(APPEND ALZ_LIB_DIRS /usr/lib/${arch}/hdf5/serial /usr/lib/${arch})
endforeach()
find_path(ALZ_HDF5_INCLUDE hdf5.h PATHS /usr/include /usr/local/include PATH_SUFFIXES hdf5/serial hdf5)
find_library(ALZ_HDF5_LIBRARY NAMES hdf5_serial hdf5 PATHS ${ALZ_LIB_DIRS})
if(ALZ_HDF5_INCLUDE AND ALZ_HDF5_LIBRARY)
  set(ALZ_HDF5_FOUND TRUE)
endif()
alz_require(ALZ_HDF5_FOUND "HDF5's C library (hdf5.h, libhdf5)" "libhdf5-dev")
find_path(ALZ_ZIP_INCLUDE zip.h PATHS /usr/include /usr/local/include)
find_library(ALZ_ZIP_LIBRARY NAMES zip PATHS ${ALZ_LIB_DIRS})
if(ALZ_ZIP_INCLUDE AND ALZ_ZIP_LIBRARY)
  set(ALZ_ZIP_FOUND TRUE)
endif()
alz_require(ALZ_ZIP_FOUND "libzip (zip.h, libzip)" "libzip-dev")

# Tests and benchmarks.
find_package(GTest)
alz_require(GTest_FOUND "GoogleTest" "libgtest-dev")
if(ALZ_BUILD_BENCH)
  find_package(benchmark)
  alz_require(benchmark_FOUND "Google Benchmark" "libbenchmark-dev")
endif()
