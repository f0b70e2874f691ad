#pragma once

#include "core/strategy.h"
#include "core/topology.h"

#include <string>
#include <vector>

namespace shard {

// The link a communication group runs over, after placing it on the topology.
struct GroupLink {
    int size = 1;
    int nodes = 1; // nodes the group spans
    int gpus_per_node = 1; // most group members on one node
    bool cross_node = false;
    double busbw_gbps = 0; // what one member gets, nccl-tests style
    double latency_us = 0;
    std::string fabric; // "nvswitch", "infiniband", "nvswitch+infiniband"...
};

// Maps mesh positions [pp, dp, tensor axes...] (row-major, tensor axes innermost) onto
// GPUs and nodes, and finds the link of any group of positions.
class DeviceMesh {
public:
    DeviceMesh(const Strategy& strategy, const Topology& topology);

    int stage_size() const { return m_stageSize; } // dp x tensor devices per stage
    int gpu(int position) const;
    int node(int position) const;
    // Group of `size` members of stage 0 starting at offset `first`, `stride` apart (offsets
    // inside the stage block). Tensor axis a of shape [s0, s1, s2] has stride prod(s_{a+1..}).
    GroupLink group(int size, int stride, int first = 0) const;
    // The link between one device of stage 0 and its counterpart in stage 1.
    GroupLink stage_link() const;
    int tensor_axis_stride(int axis) const;

private:
    GroupLink link_of(const std::vector<int>& positions) const;

    const Strategy& m_strategy;
    const Topology& m_topology;
    int m_stageSize = 1;
};

} // namespace shard
