#include "gpu_dtype.h"

#include "core/error.h"

namespace shard::cuda {

std::size_t element_size(GpuDType type)
{
    return type == GpuDType::F32 ? 4 : 2;
}

std::string to_string(GpuDType type)
{
    switch (type) {
    case GpuDType::F32:
        return "fp32";
    case GpuDType::F16:
        return "fp16";
    case GpuDType::BF16:
        return "bf16";
    }
    return "?";
}

GpuDType parse_gpu_dtype(const std::string& text)
{
    if (text == "fp32" || text == "f32" || text == "float32")
        return GpuDType::F32;
    if (text == "fp16" || text == "f16" || text == "float16")
        return GpuDType::F16;
    if (text == "bf16" || text == "bfloat16")
        return GpuDType::BF16;
    throw Error("unknown dtype '" + text + "' for the CUDA engine (expected bf16, fp16 or fp32)");
}

DType to_plan_dtype(GpuDType type)
{
    switch (type) {
    case GpuDType::F32:
        return DType::FP32;
    case GpuDType::F16:
        return DType::FP16;
    case GpuDType::BF16:
        return DType::BF16;
    }
    return DType::BF16;
}

} // namespace shard::cuda
