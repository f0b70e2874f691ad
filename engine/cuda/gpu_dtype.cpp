#include "gpu_dtype.h"

#include "core/error.h"
#include "run/run_description.h"

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
    return gpu_dtype_of(run::parse_gpu_element_type(text));
}

GpuDType gpu_dtype_of(DType type)
{
    switch (type) {
    case DType::FP32:
        return GpuDType::F32;
    case DType::FP16:
        return GpuDType::F16;
    case DType::BF16:
        return GpuDType::BF16;
    default:
        throw Error("the CUDA engine computes in bf16, fp16 or fp32, not " + to_string(type));
    }
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
