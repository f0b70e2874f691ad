#include "backend_info.h"

namespace shard::cuda {

BackendInfo backend_info()
{
    BackendInfo info;
    info.status = "not compiled";
    info.reason = "this build has no CUDA backend (configure with -DSHARDSTUDIO_WITH_CUDA=ON and a CUDA toolkit)";
    return info;
}

} // namespace shard::cuda
