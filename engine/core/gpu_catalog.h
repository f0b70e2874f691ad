#pragma once

#include "topology.h"

#include <optional>
#include <string>
#include <vector>

namespace shard {

// Datasheet figures for the GPU kinds users plan for: dense bf16 peak and HBM bandwidth,
// plus the fabric a node of them usually has. The cost model's efficiency tables scale these.
struct GpuCatalogEntry {
    GpuKind gpu;
    Link typical_intra; // NVSwitch / NVLink / PCIe figures as nccl-tests reports them
    std::vector<std::string> match; // lowercase substrings of the driver's device name
};

const std::vector<GpuCatalogEntry>& gpu_catalog();
// Finds the entry whose match strings occur in a driver-reported name ("NVIDIA H100 80GB HBM3").
std::optional<GpuCatalogEntry> find_gpu_kind(const std::string& device_name);

} // namespace shard
