#include "backend_info.h"

#include <cuda_runtime_api.h>

namespace shard::cuda {

BackendInfo backend_info()
{
    BackendInfo info;
    info.compiled = true;
#ifdef SHARDSTUDIO_HAVE_NCCL
    info.nccl = true;
#endif
    info.status = SHARDSTUDIO_CUDA_STATUS;
    cudaRuntimeGetVersion(&info.runtime_version);
    if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess || info.driver_version == 0) {
        info.reason = "no NVIDIA driver found on this machine";
        return info;
    }
    const cudaError_t status = cudaGetDeviceCount(&info.device_count);
    if (status != cudaSuccess) {
        info.device_count = 0;
        info.reason = std::string("no usable GPU: ") + cudaGetErrorString(status);
    } else if (info.device_count == 0) {
        info.reason = "the NVIDIA driver reports no GPU";
    }
    return info;
}

} // namespace shard::cuda
