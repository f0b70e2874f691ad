# Optional CUDA, the Ginkgo way: check_language() decides the default of an option(),
# and only when the option is on do we enable the language and look for the toolkit.
include(CheckLanguage)
check_language(CUDA)
if(CMAKE_CUDA_COMPILER)
  set(_cuda_default ON)
else()
  set(_cuda_default OFF)
endif()
option(SHARDSTUDIO_WITH_CUDA "Build the CUDA backend (cuBLAS, NCCL)" ${_cuda_default})

set(SHARDSTUDIO_HAVE_NCCL OFF)
if(SHARDSTUDIO_WITH_CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR "SHARDSTUDIO_WITH_CUDA is ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER)")
  endif()
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    # Hopper by default: builds run on machines with no GPU to query.
    set(CMAKE_CUDA_ARCHITECTURES 90)
  endif()
  # Kernels are C++17: CMake 3.25 (Debian 12) cannot ask nvcc for C++20, and device code
  # needs nothing newer. Host code stays C++20.
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # NCCL is an optional part inside CUDA: the toolkit folder, then the system folders.
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}/include)
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR})
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(SHARDSTUDIO_HAVE_NCCL ON)
    set(SHARDSTUDIO_CUDA_STATUS "compiled (CUDA ${CUDAToolkit_VERSION}, NCCL found)")
  else()
    message(STATUS "NCCL not found: the CUDA backend is built without multi-GPU communication")
    set(SHARDSTUDIO_CUDA_STATUS "compiled (CUDA ${CUDAToolkit_VERSION}, NCCL not found)")
  endif()
else()
  set(SHARDSTUDIO_CUDA_STATUS "not compiled")
endif()
