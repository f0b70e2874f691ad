#include "cost_types.h"

#include <algorithm>

namespace shard {

std::string timed_group(const std::string& op_kind)
{
    if (op_kind == "mlp_up" || op_kind == "activation" || op_kind == "mlp_down")
        return "mlp";
    return op_kind;
}

std::string to_string(OpKind kind)
{
    switch (kind) {
    case OpKind::Embedding:
        return "embedding";
    case OpKind::Norm:
        return "norm";
    case OpKind::QKV:
        return "qkv";
    case OpKind::Attention:
        return "attention";
    case OpKind::OutProj:
        return "out_proj";
    case OpKind::MlpUp:
        return "mlp_up";
    case OpKind::Activation:
        return "activation";
    case OpKind::MlpDown:
        return "mlp_down";
    case OpKind::Router:
        return "router";
    case OpKind::Experts:
        return "experts";
    case OpKind::SharedExperts:
        return "shared_experts";
    case OpKind::LmHead:
        return "lm_head";
    case OpKind::StageHandoff:
        return "stage_handoff";
    }
    return "?";
}

double BlockCost::compute_us() const
{
    double total = 0;
    for (const auto& op : ops)
        total += op.time_us;
    return total;
}

double BlockCost::comm_us() const
{
    double total = 0;
    for (const auto& c : collectives)
        total += c.time_us;
    return total;
}

std::int64_t BlockCost::traffic() const
{
    std::int64_t total = 0;
    for (const auto& c : collectives)
        total += c.traffic;
    return total;
}

std::int64_t BlockCost::weight_bytes() const
{
    std::int64_t total = 0;
    for (const auto& op : ops)
        total += op.weight_bytes;
    return total;
}

std::int64_t BlockCost::gathered_bytes() const
{
    std::int64_t largest = 0;
    for (const auto& op : ops)
        largest = std::max(largest, op.gathered_bytes);
    return largest;
}

std::int64_t BlockCost::largest_payload() const
{
    std::int64_t largest = 0;
    for (const auto& c : collectives)
        largest = std::max(largest, c.payload);
    return largest;
}

std::string to_string(Provenance source)
{
    switch (source) {
    case Provenance::Measured:
        return "measured";
    case Provenance::Interpolated:
        return "interpolated";
    case Provenance::Extrapolated:
        return "extrapolated";
    case Provenance::Roofline:
        return "roofline";
    }
    return "?";
}

Provenance least_trusted(Provenance a, Provenance b)
{
    return int(a) > int(b) ? a : b;
}

double BlockCost::table_us() const
{
    double us = 0;
    for (const auto& op : ops)
        us += op.source == Provenance::Roofline ? 0.0 : op.time_us;
    for (const auto& c : collectives)
        us += c.source == Provenance::Roofline ? 0.0 : c.time_us;
    return us;
}

} // namespace shard
