# Decides whether the CUDA backend is built and for which architectures.
#   ALZ_CUDA=AUTO (default): on when nvcc is found; ON: required; OFF: CPU only.
#   Architectures: -DCMAKE_CUDA_ARCHITECTURES wins; else the GPU found at configure time
#   (nvidia-smi); else sm_90 plus PTX (90-real;90-virtual), which also runs on newer cards.
set(ALZ_HAS_CUDA OFF)
string(TOUPPER "${ALZ_CUDA}" alz_cuda_mode)
if(NOT alz_cuda_mode STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
    find_program(ALZ_NVIDIA_SMI nvidia-smi)
    set(alz_detected_arch "")
    if(ALZ_NVIDIA_SMI)
      execute_process(COMMAND ${ALZ_NVIDIA_SMI} --query-gpu=compute_cap --format=csv,noheader
                      OUTPUT_VARIABLE alz_caps RESULT_VARIABLE alz_smi_rc ERROR_QUIET
                      OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(alz_smi_rc EQUAL 0 AND alz_caps MATCHES "^([0-9]+)\\.([0-9]+)")
        set(alz_detected_arch "${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
      endif()
    endif()
    if(alz_detected_arch)
      set(CMAKE_CUDA_ARCHITECTURES ${alz_detected_arch} CACHE STRING "CUDA architectures" FORCE)
    else()
      set(CMAKE_CUDA_ARCHITECTURES "90-real;90-virtual" CACHE STRING "CUDA architectures" FORCE)
    endif()
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # One CUDA runtime in the process: the shared one, as cuBLAS and cuDNN use.
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    # Device code is C++17 (CMake 3.25 knows no CUDA20 dialect for nvcc): headers included
    # by .cu files stay C++17-clean; host-only .cpp files are C++20.
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    # cuDNN: headers and library live in the toolkit on some machines, in the multiarch
    # folders (Debian/Ubuntu packages) on others.
    find_path(CUDNN_INCLUDE_DIR cudnn.h
              HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/include/x86_64-linux-gnu /usr/local/include)
    find_library(CUDNN_LIBRARY cudnn
                 HINTS ${CUDAToolkit_LIBRARY_DIR} /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu
                       /usr/local/cuda/lib)
    if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY)
      message(FATAL_ERROR "alz: cuDNN not found. Install 'libcudnn9-dev-cuda-13' "
                          "(or configure with -DALZ_CUDA=OFF).")
    endif()
    set(ALZ_HAS_CUDA ON)
  elseif(alz_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "alz: ALZ_CUDA=ON but no CUDA compiler (nvcc) was found.")
  endif()
endif()

# Links a target against the CUDA runtime, cuBLAS and cuDNN.
function(alz_link_cuda target)
  target_include_directories(${target} SYSTEM PUBLIC ${CUDNN_INCLUDE_DIR} ${CUDAToolkit_INCLUDE_DIRS})
  target_link_libraries(${target} PUBLIC CUDA::cudart CUDA::cublas ${CUDNN_LIBRARY})
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-Wall,-Wextra,-Wno-unknown-pragmas>)
endfunction()
