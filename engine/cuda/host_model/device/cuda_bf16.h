#pragma once

// The host model's stand-in for the CUDA toolkit's cuda_bf16.h (see cuda_fp16.h).
#include "host_elements.h"

#include <cstdint>

struct __nv_bfloat16 {
    std::uint16_t bits;
};

inline float __bfloat162float(__nv_bfloat16 value)
{
    return shard::cuda::host::bf16_to_float(value.bits);
}

inline __nv_bfloat16 __float2bfloat16_rn(float value)
{
    return __nv_bfloat16{shard::cuda::host::float_to_bf16(value)};
}
