#pragma once

// Host model of CUDA's library_types.h (see cuda_runtime_api.h here).
enum cudaDataType_t {
    CUDA_R_32F = 0,
    CUDA_R_16F = 2,
    CUDA_R_16BF = 14,
};
