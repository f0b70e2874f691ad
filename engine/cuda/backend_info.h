#pragma once

#include <string>

namespace shard::cuda {

// What this build's CUDA backend can do on this machine, for `--version`, `devices` and
// the GUI's backend picker (unavailable backends are shown disabled with `reason`).
struct BackendInfo {
    bool compiled = false; // built with the CUDA toolkit
    bool nccl = false; // built with NCCL
    int runtime_version = 0; // e.g. 13000
    int driver_version = 0; // 0 when no driver
    int device_count = 0;
    std::string status; // "compiled (CUDA 13.0, NCCL found)" or "not compiled"
    std::string reason; // why the cuda backends cannot run here, empty when they can

    bool usable() const { return compiled && device_count > 0; }
};

BackendInfo backend_info();
// backend_info(), or an Error saying why the cuda backends cannot run here.
BackendInfo usable_backend();

} // namespace shard::cuda
