#pragma once

// The host model's stand-in for the CUDA toolkit's cuda_fp16.h, for the engine's kernels
// compiled as C++ (device_emulation.h): a 16-bit storage type and the two conversions the
// kernels use, rounding to nearest, ties to even, as the device intrinsics do.
#include "host_elements.h"

#include <cstdint>

struct __half {
    std::uint16_t bits;
};

inline float __half2float(__half value)
{
    return shard::cuda::host::fp16_to_float(value.bits);
}

inline __half __float2half_rn(float value)
{
    return __half{shard::cuda::host::float_to_fp16(value)};
}
