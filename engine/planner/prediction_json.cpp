#include "prediction_json.h"

namespace shard {

OrderedJson memory_to_json(const MemoryBreakdown& m)
{
    OrderedJson j;
    j["weights"] = m.weights;
    j["kv_cache"] = m.kv_cache;
    j["activations"] = m.activations;
    j["gathered_weights"] = m.gathered_weights;
    j["comm_buffers"] = m.comm_buffers;
    j["runtime_reserve"] = m.runtime_reserve;
    j["total"] = m.total();
    j["capacity"] = m.capacity;
    j["stage"] = m.stage;
    return j;
}

namespace {

OrderedJson collective_to_json(const CollectiveCost& c)
{
    OrderedJson j;
    j["name"] = c.name;
    j["op"] = to_string(c.op);
    j["axis"] = c.axis;
    j["group"] = c.group;
    j["payload_bytes"] = c.payload;
    j["calls"] = c.calls;
    j["traffic_bytes"] = c.traffic;
    j["cross_node"] = c.cross_node;
    j["busbw_gbps"] = c.busbw_gbps;
    j["time_us"] = c.time_us;
    j["source"] = to_string(c.source);
    j["calibration"] = c.calibration;
    return j;
}

OrderedJson op_to_json(const OpCost& op)
{
    OrderedJson j;
    j["name"] = op.name;
    j["kind"] = to_string(op.kind);
    if (op.m > 0)
        j["shape"] = {op.m, op.k, op.n};
    j["repeat"] = op.repeat;
    j["flops"] = op.flops;
    j["hbm_bytes"] = op.bytes;
    j["weight_bytes"] = op.weight_bytes;
    j["time_us"] = op.time_us;
    j["source"] = to_string(op.source);
    j["calibration"] = op.calibration;
    return j;
}

// How many times each block runs per microbatch on the busiest stage (for per-step totals).
int block_count(const PhaseCost& phase, const std::string& name)
{
    int count = 0;
    for (const auto& stage : phase.stages) {
        if (name == "dense layer")
            count = std::max(count, stage.dense_layers);
        else if (name == "moe layer")
            count = std::max(count, stage.moe_layers);
        else if (name == "embedding")
            count = std::max(count, stage.embedding ? 1 : 0);
        else if (name == "lm head")
            count = std::max(count, stage.lm_head ? 1 : 0);
        else
            count = phase.stages.size() > 1 ? 1 : 0;
    }
    return count;
}

OrderedJson phase_to_json(const PhaseCost& phase, bool with_blocks)
{
    OrderedJson j;
    j["time_ms"] = phase.time_ms;
    j["compute_ms"] = phase.compute_ms;
    j["comm_ms"] = phase.comm_ms;
    j["bubble_ms"] = phase.bubble_ms;
    j["measured_share"] = phase.measured_share;
    j["microbatches"] = phase.microbatches;
    j["comm_bytes_per_device"] = phase.traffic_per_device;
    OrderedJson collectives = OrderedJson::array();
    for (const auto& block : phase.blocks) {
        const int count = block_count(phase, block.name);
        for (const auto& c : block.collectives) {
            OrderedJson entry = collective_to_json(c);
            entry["block"] = block.name;
            entry["per_microbatch_count"] = count;
            collectives.push_back(entry);
        }
    }
    j["collectives"] = collectives;
    if (with_blocks) {
        OrderedJson blocks = OrderedJson::array();
        for (const auto& block : phase.blocks) {
            OrderedJson b = block_to_json(block);
            b["per_microbatch_count"] = block_count(phase, block.name);
            blocks.push_back(b);
        }
        j["blocks"] = blocks;
        OrderedJson stages = OrderedJson::array();
        for (const auto& s : phase.stages)
            stages.push_back({{"first_layer", s.first_layer},
                              {"dense_layers", s.dense_layers},
                              {"moe_layers", s.moe_layers},
                              {"embedding", s.embedding},
                              {"lm_head", s.lm_head},
                              {"compute_us", s.compute_us},
                              {"comm_us", s.comm_us},
                              {"traffic_bytes", s.traffic}});
        j["stages"] = stages;
    }
    return j;
}

} // namespace

OrderedJson block_to_json(const BlockCost& block)
{
    OrderedJson j;
    j["name"] = block.name;
    j["compute_us"] = block.compute_us();
    j["comm_us"] = block.comm_us();
    j["traffic_bytes"] = block.traffic();
    j["weight_bytes"] = block.weight_bytes();
    j["kv_cache_bytes"] = block.kv_cache_bytes;
    OrderedJson ops = OrderedJson::array();
    for (const auto& op : block.ops)
        ops.push_back(op_to_json(op));
    j["ops"] = ops;
    OrderedJson collectives = OrderedJson::array();
    for (const auto& c : block.collectives)
        collectives.push_back(collective_to_json(c));
    j["collectives"] = collectives;
    return j;
}

OrderedJson prediction_to_json(const Strategy& s, const Estimate& e, bool with_blocks)
{
    OrderedJson j;
    j["predicted"] = true;
    j["label"] = s.label();
    j["mode"] = to_string(s.tensor_mode);
    j["attention"] = to_string(s.attention);
    OrderedJson mesh = OrderedJson::array();
    for (const auto& axis : s.mesh())
        mesh.push_back({{"axis", axis.name}, {"size", axis.size}});
    j["mesh"] = mesh;
    j["ep"] = s.ep;
    j["feasible"] = e.feasible;
    j["reason"] = e.reason;
    if (e.geometry.feasible()) {
        j["memory_per_device_bytes"] = e.memory.total();
        j["memory_breakdown"] = memory_to_json(e.memory);
        j["kv_cache_bytes_per_token_per_device"] = e.kv_bytes_per_token_per_device;
        j["ttft_ms"] = e.ttft_ms;
        j["tpot_ms"] = e.tpot_ms;
        j["tokens_per_s"] = e.tokens_per_s;
        j["comm_bytes_per_device"] = {{"prefill", e.prefill.traffic_per_device},
                                      {"decode", e.decode.traffic_per_device}};
        j["prefill"] = phase_to_json(e.prefill, with_blocks);
        j["decode"] = phase_to_json(e.decode, with_blocks);
    }
    j["notes"] = e.notes;
    return j;
}

} // namespace shard
