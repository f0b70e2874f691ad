#include "estimate.h"

#include "perf_db.h"
#include "step_builder.h"

#include "core/units.h"

#include <algorithm>
#include <set>

namespace shard {

const BlockCost* PhaseCost::block(const std::string& name) const
{
    for (const auto& b : blocks) {
        if (b.name == name)
            return &b;
    }
    return nullptr;
}

namespace {

constexpr std::int64_t kMiB = 1024 * 1024;
constexpr std::int64_t kGiB = 1024 * kMiB;
// NCCL keeps about NCCL_BUFFSIZE (4 MiB) x channels per peer set; 64 MiB per communicator
// matches what nvidia-smi shows after ncclCommInitRank on H100 nodes.
constexpr std::int64_t kCommunicatorBuffers = 64 * kMiB;

std::vector<StageCost> stage_layout(const ModelSpec& m, const Strategy& s)
{
    std::vector<StageCost> stages;
    int layer = 0;
    const auto split = s.resolved_stage_layers(m.layers);
    for (std::size_t i = 0; i < split.size(); ++i) {
        StageCost stage;
        stage.first_layer = layer;
        for (int l = layer; l < layer + split[i]; ++l)
            (m.is_moe_layer(l) ? stage.moe_layers : stage.dense_layers) += 1;
        stage.embedding = i == 0;
        stage.lm_head = i + 1 == split.size();
        layer += split[i];
        stages.push_back(stage);
    }
    return stages;
}

PhaseCost build_phase(const StepBuilder& builder, const ModelSpec& m, const Strategy& s, const StepShape& step,
                      int microbatches)
{
    PhaseCost phase;
    phase.microbatches = microbatches;
    phase.blocks.push_back(builder.embedding(step));
    const bool any_dense = !m.is_moe() || m.moe_layer_count() < m.layers;
    const BlockCost empty;
    phase.blocks.push_back(any_dense ? builder.dense_layer(step) : BlockCost{"dense layer", {}, {}, 0, 0, {}});
    if (m.is_moe())
        phase.blocks.push_back(builder.moe_layer(step));
    phase.blocks.push_back(builder.lm_head(step));
    phase.blocks.push_back(builder.stage_handoff(step));
    // The stored runs' correction for this GPU kind, on top of whatever priced each op.
    const auto& calibration = builder.hardware().efficiency().calibration;
    if (!calibration.empty())
        for (BlockCost& block : phase.blocks) {
            for (OpCost& op : block.ops)
                if (const auto it = calibration.find(timed_group(to_string(op.kind))); it != calibration.end()) {
                    op.time_us *= it->second;
                    op.calibration = it->second;
                }
            for (CollectiveCost& c : block.collectives)
                if (const auto it = calibration.find(to_string(c.op)); it != calibration.end() && !c.cross_node) {
                    c.time_us *= it->second;
                    c.calibration = it->second;
                }
        }
    const BlockCost& embedding = phase.blocks[0];
    const BlockCost& dense = phase.blocks[1];
    const BlockCost& moe = m.is_moe() ? phase.blocks[2] : empty;
    const BlockCost& head = *phase.block("lm head");
    const BlockCost& handoff = phase.blocks.back();

    phase.stages = stage_layout(m, s);
    for (auto& stage : phase.stages) {
        auto add = [&](const BlockCost& b, double count) {
            stage.compute_us += b.compute_us() * count;
            stage.comm_us += b.comm_us() * count;
            stage.table_us += b.table_us() * count;
            stage.traffic += std::int64_t(b.traffic() * count);
        };
        add(dense, stage.dense_layers);
        add(moe, stage.moe_layers);
        if (stage.embedding)
            add(embedding, 1);
        if (stage.lm_head)
            add(head, 1);
    }

    const int S = int(phase.stages.size());
    const double handoff_us = handoff.comm_us();
    double sum = 0;
    const StageCost* busiest = &phase.stages.front();
    for (const auto& stage : phase.stages) {
        sum += stage.time_us();
        if (stage.time_us() > busiest->time_us())
            busiest = &stage;
    }
    const double m_count = microbatches;
    const double path = sum + (S - 1) * handoff_us;
    const double time_us =
        step.decode ? std::max(path, m_count * busiest->time_us()) : path + (m_count - 1) * busiest->time_us();
    phase.time_ms = time_us / 1000.0;
    phase.compute_ms = m_count * busiest->compute_us / 1000.0;
    phase.comm_ms = (m_count * busiest->comm_us + (S > 1 ? m_count * handoff_us : 0.0)) / 1000.0;
    phase.bubble_ms = std::max(0.0, phase.time_ms - phase.compute_ms - phase.comm_ms);
    phase.measured_share = busiest->time_us() > 0 ? busiest->table_us / busiest->time_us() : 0.0;
    std::int64_t traffic = 0;
    for (const auto& stage : phase.stages)
        traffic = std::max(traffic, stage.traffic);
    phase.traffic_per_device = std::int64_t(m_count) * (traffic + (S > 1 ? handoff.traffic() : 0));
    return phase;
}

MemoryBreakdown memory_of(const PhaseCost& phase, const Topology& topology)
{
    MemoryBreakdown worst;
    const BlockCost* dense = phase.block("dense layer");
    const BlockCost* moe = phase.block("moe layer");
    const BlockCost* embedding = phase.block("embedding");
    const BlockCost* head = phase.block("lm head");
    std::set<std::string> axes;
    for (const auto& b : phase.blocks) {
        for (const auto& c : b.collectives)
            axes.insert(c.axis);
    }
    for (std::size_t i = 0; i < phase.stages.size(); ++i) {
        const StageCost& stage = phase.stages[i];
        MemoryBreakdown mem;
        mem.stage = int(i);
        mem.capacity = topology.gpu.memory_bytes;
        std::vector<const BlockCost*> blocks;
        auto add = [&](const BlockCost* b, int count) {
            if (!b || count == 0)
                return;
            mem.weights += b->weight_bytes() * count;
            mem.kv_cache += b->kv_cache_bytes * count;
            blocks.push_back(b);
        };
        add(dense, stage.dense_layers);
        add(moe, stage.moe_layers);
        add(stage.embedding ? embedding : nullptr, 1);
        add(stage.lm_head ? head : nullptr, 1);
        std::int64_t payload = 0;
        for (const BlockCost* b : blocks) {
            mem.activations = std::max(mem.activations, b->activation_bytes);
            mem.gathered_weights = std::max(mem.gathered_weights, b->gathered_bytes());
            payload = std::max(payload, b->largest_payload());
        }
        mem.activations *= 2; // the residual stream lives beside the largest GEMM's operands
        mem.comm_buffers = payload + kCommunicatorBuffers * std::int64_t(axes.size());
        mem.runtime_reserve = kGiB + mem.capacity * 3 / 100;
        if (i == 0 || mem.total() > worst.total())
            worst = mem;
    }
    return worst;
}

std::string over_memory_reason(const MemoryBreakdown& mem, const Topology& topology, int stages)
{
    std::string text = "needs " + format_bytes(double(mem.total())) + " per GPU";
    if (stages > 1)
        text += " on stage " + std::to_string(mem.stage);
    text += ", " + format_bytes(double(mem.total() - mem.capacity)) + " over the " + format_bytes(double(mem.capacity))
            + " of one " + topology.gpu.name + " (weights " + format_bytes(double(mem.weights)) + ", KV cache "
            + format_bytes(double(mem.kv_cache)) + ", other "
            + format_bytes(double(mem.total() - mem.weights - mem.kv_cache)) + ")";
    return text;
}

} // namespace

Estimate estimate(const ModelSpec& m, const Strategy& s, const Topology& topology, const Workload& w,
                  const Efficiency& efficiency)
{
    Estimate result;
    result.geometry = shard_geometry(m, s, w);
    if (!result.geometry.feasible()) {
        result.reason = result.geometry.reject;
        return result;
    }
    if (s.devices() > topology.total_gpus()) {
        result.reason =
            "needs " + std::to_string(s.devices()) + " GPUs, the topology has " + std::to_string(topology.total_gpus());
        return result;
    }
    const HardwareModel hardware(topology.gpu, efficiency, tables_for(topology.gpu, efficiency));
    result.source = prediction_source(topology.gpu, efficiency);
    const StepBuilder builder(m, s, topology, w, result.geometry, hardware);
    const ShardGeometry& g = result.geometry;
    const std::int64_t kv_context = std::int64_t(w.prompt) + w.generate;

    StepShape prefill;
    prefill.seqs = g.seqs_per_micro;
    prefill.tokens_per_seq = w.prompt;
    prefill.context = w.prompt;
    prefill.kv_context = kv_context;
    result.prefill = build_phase(builder, m, s, prefill, g.microbatches);

    StepShape decode;
    decode.decode = true;
    decode.seqs = g.seqs_per_micro;
    decode.tokens_per_seq = 1;
    decode.context = std::int64_t(w.prompt) + w.generate / 2; // average over the generation
    decode.kv_context = kv_context;
    result.decode = build_phase(builder, m, s, decode, g.microbatches);

    result.ttft_ms = result.prefill.time_ms;
    result.tpot_ms = result.decode.time_ms;
    result.tokens_per_s = result.tpot_ms > 0 ? w.batch / (result.tpot_ms / 1000.0) : 0;

    int stage_layers = 0;
    for (const auto& stage : result.decode.stages)
        stage_layers = std::max(stage_layers, stage.dense_layers + stage.moe_layers);
    const std::int64_t per_layer =
        m.mla ? std::int64_t(m.mla->kv_lora_rank + m.mla->qk_rope_head_dim) * bytes_per_element(w.kv_dtype)
              : 2LL * g.kv_heads_local * m.head_dim * bytes_per_element(w.kv_dtype);
    result.kv_bytes_per_token_per_device = per_layer * stage_layers;

    const PhaseCost& sizing = w.phase == Phase::Decode ? result.decode : result.prefill;
    result.memory = memory_of(sizing, topology);
    if (w.phase == Phase::Decode) // a decode-only server still ran the prefill once
        result.memory.activations =
            std::max(result.memory.activations, memory_of(result.prefill, topology).activations);

    for (const auto& b : result.decode.blocks) {
        for (const auto& note : b.notes) {
            if (std::find(result.notes.begin(), result.notes.end(), note) == result.notes.end())
                result.notes.push_back(note);
        }
    }
    const TensorMode mode = s.tensor_mode;
    if (mode == TensorMode::Summa2D || mode == TensorMode::Tesseract25D || mode == TensorMode::Cube3D)
        result.notes.push_back("moves weight blocks on every forward: decode pays the K x N term each token");
    if (s.pp > 1)
        result.notes.push_back(std::to_string(g.microbatches) + " microbatches over " + std::to_string(s.pp)
                               + " stages: prefill bubble "
                               + format_fixed(100.0 * (s.pp - 1) / (g.microbatches + s.pp - 1), 0) + " %");
    result.feasible = result.memory.fits();
    if (!result.feasible)
        result.reason = over_memory_reason(result.memory, topology, s.pp);
    return result;
}

} // namespace shard
