#pragma once

// One checked-call macro per library (nvbench / rmm style): a failing call throws
// shard::cuda::CudaError naming the call, the library's message, the file and the line.
#include "core/error.h"

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include <string>

namespace shard::cuda {

class CudaError : public Error {
public:
    using Error::Error;
};

// Out of device memory: names the rank and the bytes asked for.
class OutOfMemory : public CudaError {
public:
    using CudaError::CudaError;
};

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line);

} // namespace shard::cuda

#define SHARD_CUDA_CHECK(call)                                                                                         \
    do {                                                                                                               \
        const cudaError_t shard_status_ = (call);                                                                      \
        if (shard_status_ != cudaSuccess)                                                                              \
            ::shard::cuda::throw_cuda_error(shard_status_, #call, __FILE__, __LINE__);                                 \
    } while (0)

#define SHARD_CUBLAS_CHECK(call)                                                                                       \
    do {                                                                                                               \
        const cublasStatus_t shard_status_ = (call);                                                                   \
        if (shard_status_ != CUBLAS_STATUS_SUCCESS)                                                                    \
            ::shard::cuda::throw_cublas_error(shard_status_, #call, __FILE__, __LINE__);                               \
    } while (0)
