#pragma once

// Where every rank of a plan sits in the pipeline x data x tensor mesh (rank = stage * dp * t
// + replica * t + tensor), its tensor group and pipeline chain: the one numbering of the CPU
// executor and the CUDA engine (whose NCCL sub-communicators are colored by these groups).
#include "core/strategy.h"

#include <vector>

namespace shard::run {

struct MeshGroup {
    int stage = 0;
    int replica = 0;
    std::vector<int> ranks; // the tensor group, tensor index order
};

struct MeshLayout {
    int pp = 1, dp = 1, t = 1;
    std::vector<MeshGroup> groups; // stage-major, then replica
    // Per rank, its group on each axis (-1: the axis has one member, no communicator):
    // the tensor group, and the pipeline chain (the ranks at the same offset of every stage).
    std::vector<int> tensor_color;
    std::vector<int> pipeline_color;
    // Expert parallelism (ep > 1): the experts live in a stage, split in ep shards of etp
    // ranks each (etp = dp * t / ep). EP group c of a stage joins the offsets in it
    // (replica * t + tensor) equal to c modulo etp, colored stage * etp + c; expert-TP group
    // s the etp offsets from s * etp, colored stage * (stage_size / etp) + s (-1 without).
    int ep = 1, etp = 1;
    std::vector<int> expert_color;
    std::vector<int> expert_tp_color;

    int ranks() const { return pp * dp * t; }
    int stage_size() const { return dp * t; }
    int rank(int stage, int replica, int tensor) const { return stage * stage_size() + replica * t + tensor; }
    int stage_of(int rank) const { return rank / stage_size(); }
    int replica_of(int rank) const { return rank % stage_size() / t; }
    int tensor_of(int rank) const { return rank % t; }
    const MeshGroup& group(int stage, int replica) const { return groups.at(std::size_t(stage * dp + replica)); }
    // The ranks of color c of an axis, in rank order.
    std::vector<int> members(const std::vector<int>& color, int c) const;
};

MeshLayout mesh_layout(const Strategy& strategy);

} // namespace shard::run
