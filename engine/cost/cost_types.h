#pragma once

#include "collective.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shard {

enum class OpKind {
    Embedding,
    Norm,
    QKV,
    Attention,
    OutProj,
    MlpUp,
    Activation,
    MlpDown,
    Router,
    Experts,
    SharedExperts,
    LmHead,
    StageHandoff,
};
std::string to_string(OpKind kind);
// The group the executors time an op kind in ("mlp" for the up projection, activation and
// down projection; every other kind is its own group): what run measurements are keyed by.
std::string timed_group(const std::string& op_kind);

// Where a predicted time comes from, in the order a user trusts them.
enum class Provenance {
    Measured, // a point of a measured table
    Interpolated, // between measured points (or transferred from measured neighbouring shapes)
    Extrapolated, // outside the measured range: the roofline scaled by the edge's utilization
    Roofline, // no table for this op, quantization or GPU kind: datasheet peaks and efficiencies
};
std::string to_string(Provenance source);
// The less trusted of two sources: what a time blended from both can claim.
Provenance least_trusted(Provenance a, Provenance b);

// One computation on one device in one forward step (all figures per device).
struct OpCost {
    std::string name; // "qkv_proj", "attention", "experts.up"...
    OpKind kind = OpKind::QKV;
    std::int64_t m = 0, k = 0, n = 0; // GEMM shape Y[m,n] = X[m,k] W[k,n]; 0 when not a GEMM
    double repeat = 1; // identical GEMMs (expected active local experts for MoE)
    double flops = 0; // all repeats
    double bytes = 0; // HBM traffic, all repeats
    std::int64_t weight_bytes = 0; // weights this op keeps resident on the device
    std::int64_t gathered_bytes = 0; // temporary gathered weight blocks (SUMMA, 2.5D, 3D)
    double time_us = 0; // predicted
    Provenance source = Provenance::Roofline;
    double calibration = 1; // the stored runs' correction already in time_us
};

// One collective (or a series of identical ones) in one forward step.
struct CollectiveCost {
    std::string name; // the op it serves: "o_proj", "experts.dispatch"...
    OpKind kind = OpKind::OutProj;
    CollectiveKind op = CollectiveKind::AllReduce;
    std::string axis; // mesh axis or group: "tp", "tp_row", "ep", "pp", "tensor"
    int group = 1; // devices in the group
    int stride = 1; // mesh positions between members (inside a stage block)
    std::int64_t payload = 0; // nccl-tests "size" of one call, bytes
    int calls = 1;
    std::int64_t traffic = 0; // bytes one device sends (= receives) over all calls
    bool cross_node = false;
    double busbw_gbps = 0;
    double time_us = 0; // predicted, all calls
    Provenance source = Provenance::Roofline;
    double calibration = 1; // the stored runs' correction already in time_us
    int after_ops = 0; // ops of its block the recipe wrote before it (execution order)
};

// One block of a step: a dense layer, an MoE layer, the embedding or the LM head.
struct BlockCost {
    std::string name;
    std::vector<OpCost> ops;
    std::vector<CollectiveCost> collectives;
    std::int64_t kv_cache_bytes = 0; // this device's KV cache for the block, full context
    std::int64_t activation_bytes = 0; // peak live activations in the block
    std::vector<std::string> notes; // e.g. "KV heads replicated 2x"

    double compute_us() const;
    double comm_us() const;
    double time_us() const { return compute_us() + comm_us(); }
    double table_us() const; // the part of time_us priced from measured tables
    std::int64_t traffic() const;
    std::int64_t weight_bytes() const;
    std::int64_t gathered_bytes() const;
    std::int64_t largest_payload() const;
};

} // namespace shard
