#pragma once

#include "topology.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shard {

struct DetectedGpu {
    int index = 0;
    std::string name;
    std::int64_t memory_bytes = 0;
    int active_nvlinks = 0;
};

struct GpuDetection {
    bool driver_found = false;
    std::string message; // why nothing was found, in words a user can act on
    std::string driver_version;
    std::string cuda_driver_version; // "12.8"
    std::vector<DetectedGpu> gpus;
    // peer[i][j]: "X" self, "NVLINK" or "P2P" when GPU i can access j directly, "-" otherwise.
    std::vector<std::vector<std::string>> peer;
};

// Asks the NVIDIA driver through NVML, loaded at run time so that machines without a
// driver (CI, laptops) build and run the same binary and just get a clear message.
GpuDetection detect_local_gpus();

// A topology for the detected GPUs: one node, the GPU kind from the catalog (or from the
// reported memory when unknown), NVLink when links are active, PCIe otherwise.
Topology topology_from_detection(const GpuDetection& detection);

} // namespace shard
