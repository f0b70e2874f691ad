// What the CUDA backend can do here, without linking CUDA: the CLI and the studio must start
// on machines without the CUDA libraries, so the runtime is opened with dlopen and only
// shard-engine links it.
#include "backend_info.h"

#include "core/error.h"

#include <dlfcn.h>

#include <string>
#include <vector>

namespace shard::cuda {

namespace {

#ifdef SHARDSTUDIO_CUDA_COMPILED
// A library loaded for the lifetime of the process (the CUDA runtime must not be unloaded).
void* open_library(const char* soname)
{
    return dlopen(soname, RTLD_NOW | RTLD_LOCAL);
}
#endif

} // namespace

BackendInfo backend_info()
{
    BackendInfo info;
#ifndef SHARDSTUDIO_CUDA_COMPILED
    info.status = "not compiled";
    info.reason = "this build has no CUDA backend (configure with -DSHARDSTUDIO_WITH_CUDA=ON and a CUDA toolkit)";
    return info;
#else
    info.compiled = true;
    info.nccl = SHARDSTUDIO_CUDA_HAS_NCCL;
    info.status = SHARDSTUDIO_CUDA_STATUS;
    // Everything shard-engine links must be there, or the engine could not even start.
    std::vector<std::string> missing;
    for (const char* soname : {SHARDSTUDIO_CUDART_SONAME, SHARDSTUDIO_CUBLAS_SONAME, SHARDSTUDIO_NCCL_SONAME}) {
        if (soname[0] != '\0' && !open_library(soname))
            missing.push_back(soname);
    }
    if (!missing.empty()) {
        info.reason = "the CUDA runtime libraries are not installed (";
        for (std::size_t i = 0; i < missing.size(); ++i)
            info.reason += (i ? ", " : "") + missing[i];
        info.reason += "); install CUDA " SHARDSTUDIO_CUDA_MAJOR " and NCCL to use the cuda backends";
        return info;
    }
    void* runtime = open_library(SHARDSTUDIO_CUDART_SONAME);
    using VersionFn = int (*)(int*);
    auto runtime_version = reinterpret_cast<VersionFn>(dlsym(runtime, "cudaRuntimeGetVersion"));
    auto driver_version = reinterpret_cast<VersionFn>(dlsym(runtime, "cudaDriverGetVersion"));
    auto device_count = reinterpret_cast<VersionFn>(dlsym(runtime, "cudaGetDeviceCount"));
    auto error_string = reinterpret_cast<const char* (*)(int)>(dlsym(runtime, "cudaGetErrorString"));
    if (!runtime_version || !driver_version || !device_count || !error_string) {
        info.reason = std::string(SHARDSTUDIO_CUDART_SONAME) + " lacks the runtime API this build needs";
        return info;
    }
    runtime_version(&info.runtime_version);
    if (driver_version(&info.driver_version) != 0 || info.driver_version == 0) {
        info.reason = "no NVIDIA driver found on this machine";
        return info;
    }
    const int status = device_count(&info.device_count);
    if (status != 0) {
        info.device_count = 0;
        info.reason = std::string("no usable GPU: ") + error_string(status);
    } else if (info.device_count == 0) {
        info.reason = "the NVIDIA driver reports no GPU";
    }
    return info;
#endif
}

BackendInfo usable_backend()
{
    BackendInfo info = backend_info();
    if (!info.usable())
        throw Error("the CUDA backend cannot run here: " + (info.compiled ? info.reason : std::string("not compiled")));
    return info;
}

} // namespace shard::cuda
