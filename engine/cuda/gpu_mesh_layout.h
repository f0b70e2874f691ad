#pragma once

// Where every rank of a plan sits in the pipeline x data x tensor mesh, numbered as the CPU
// executor numbers them (rank = stage * dp * t + replica * t + tensor), and which NCCL
// sub-communicator of each axis it joins. Plain C++ (no CUDA), so it is tested everywhere.
#include "core/strategy.h"

#include <vector>

namespace shard::cuda {

struct GpuMeshGroup {
    int stage = 0;
    int replica = 0;
    std::vector<int> ranks; // the tensor group, tensor index order
};

struct GpuMeshLayout {
    int pp = 1, dp = 1, t = 1;
    std::vector<GpuMeshGroup> groups; // stage-major, then replica
    // Per rank, its group on each axis (-1: the axis has one member, no communicator):
    // the tensor group, and the pipeline chain (the ranks at the same offset of every stage).
    std::vector<int> tensor_color;
    std::vector<int> pipeline_color;

    int ranks() const { return pp * dp * t; }
    int stage_size() const { return dp * t; }
    int rank(int stage, int replica, int tensor) const { return stage * stage_size() + replica * t + tensor; }
    int stage_of(int rank) const { return rank / stage_size(); }
    const GpuMeshGroup& group(int stage, int replica) const { return groups.at(std::size_t(stage * dp + replica)); }
};

GpuMeshLayout gpu_mesh_layout(const Strategy& strategy);

} // namespace shard::cuda
