#pragma once

#include "json_util.h"

#include <cstdint>
#include <string>

namespace shard {

struct GpuKind {
    std::string name; // "H100 SXM 80GB"
    std::int64_t memory_bytes = 0;
    double bf16_tflops = 0; // dense peak, TFLOP/s
    double hbm_gbps = 0; // peak HBM bandwidth, GB/s (1e9 bytes/s)
    int sm_count = 132; // streaming multiprocessors: GEMM tile waves depend on it

    bool operator==(const GpuKind&) const = default;
};

// A fabric, described the way nccl-tests reports it: bus bandwidth (GB/s, per GPU) and the
// small-message latency of one collective step.
struct Link {
    std::string kind; // "nvswitch", "nvlink", "pcie", "infiniband", "roce", "none"
    double busbw_gbps = 0; // per GPU
    double latency_us = 0;

    bool operator==(const Link&) const = default;
};

// Nodes of identical GPUs; GPUs inside a node share the intra-node fabric (NVLink domain),
// nodes are joined by a network with nics_per_node NICs of inter.busbw_gbps each.
struct Topology {
    std::string id;
    std::string name;
    int nodes = 1;
    int gpus_per_node = 1;
    GpuKind gpu;
    Link intra;
    Link inter;
    int nics_per_node = 0;

    bool operator==(const Topology&) const = default;

    int total_gpus() const { return nodes * gpus_per_node; }
    std::int64_t total_memory_bytes() const { return std::int64_t(total_gpus()) * gpu.memory_bytes; }
    // Network bandwidth one GPU gets when every GPU of the node talks off-node at once.
    double inter_busbw_per_gpu_gbps() const;
    void validate() const;
};

OrderedJson topology_to_json(const Topology& topology);
Topology topology_from_json(const Json& json, const std::string& context);

} // namespace shard
