#include "step_builder.h"

#include "layer_grid.h"
#include "perf_db.h"

#include <algorithm>
#include <cmath>

namespace shard {

namespace {

// The latent attention shape the MLA tables were measured at (DeepSeek-V3, Kimi K2).
bool has_measured_mla_geometry(const MlaSpec& mla)
{
    return mla.kv_lora_rank == 512 && mla.qk_rope_head_dim == 64 && mla.qk_nope_head_dim == 128
           && mla.v_head_dim == 128;
}

} // namespace

StepBuilder::StepBuilder(const ModelSpec& model, const Strategy& strategy, const Topology& topology,
                         const Workload& workload, const ShardGeometry& geometry, const HardwareModel& hardware)
    : m_model(model)
    , m_strategy(strategy)
    , m_topology(topology)
    , m_workload(workload)
    , m_geometry(geometry)
    , m_hardware(hardware)
    , m_mesh(strategy, topology)
    , m_e(bytes_per_element(workload.dtype))
    , m_ekv(bytes_per_element(workload.kv_dtype))
{ }

// ---------------------------------------------------------------- Writer

StepBuilder::Writer::Writer(BlockCost& block_, const StepBuilder& builder)
    : block(block_)
    , b(builder)
{ }

OpCost& StepBuilder::Writer::gemm(std::string name, OpKind kind, std::int64_t m, std::int64_t k, std::int64_t n,
                                  std::int64_t weight_elements, double repeat)
{
    OpCost op;
    op.name = std::move(name);
    op.kind = kind;
    op.m = m;
    op.k = k;
    op.n = n;
    op.repeat = repeat;
    const int e = b.act_bytes();
    op.flops = 2.0 * double(m) * double(k) * double(n) * repeat;
    op.bytes = double(m * k + k * n + m * n) * e * repeat;
    op.weight_bytes = weight_elements * e;
    const HardwareModel::Priced priced = b.hardware().gemm(m, k, n, b.dtype());
    op.time_us = priced.us * repeat;
    op.source = priced.source;
    note_activation((m * k + m * n) * e);
    block.ops.push_back(std::move(op));
    return block.ops.back();
}

OpCost& StepBuilder::Writer::elementwise(std::string name, OpKind kind, double bytes, std::int64_t weight_elements)
{
    OpCost op;
    op.name = std::move(name);
    op.kind = kind;
    op.bytes = bytes;
    op.weight_bytes = weight_elements * b.act_bytes();
    op.time_us = b.hardware().elementwise_us(bytes);
    block.ops.push_back(std::move(op));
    return block.ops.back();
}

OpCost& StepBuilder::Writer::attention_core(const StepShape& step, std::int64_t seqs, int heads, int kv_heads)
{
    const ModelSpec& m = b.model();
    const double s = double(step.tokens_per_seq);
    const double ctx = double(step.context);
    const int e = b.act_bytes();
    const int ekv = b.kv_bytes();
    double flops = 0;
    double bytes = 0;
    if (m.mla) {
        const double latent = m.mla->kv_lora_rank + m.mla->qk_rope_head_dim;
        if (step.decode) { // weight-absorbed attention over the latent cache
            flops = double(seqs) * heads * 2.0 * ctx * (2.0 * m.mla->kv_lora_rank + m.mla->qk_rope_head_dim);
            bytes = double(seqs) * ctx * latent * ekv;
        } else {
            const double qk = m.mla->qk_nope_head_dim + m.mla->qk_rope_head_dim;
            flops = double(seqs) * heads * s * s * (qk + m.mla->v_head_dim);
            bytes = double(seqs) * s * (heads * (2 * qk + m.mla->v_head_dim) * e + latent * ekv);
        }
    } else {
        const double d = m.head_dim;
        if (step.decode) {
            flops = double(seqs) * heads * 4.0 * ctx * d;
            bytes = double(seqs) * (ctx * kv_heads * 2.0 * d * ekv + 2.0 * heads * d * e);
        } else { // causal: half of the s x s scores
            flops = double(seqs) * heads * 2.0 * s * s * d;
            bytes = double(seqs) * s * (2.0 * heads * d * e + 2.0 * kv_heads * d * (e + ekv));
        }
    }
    OpCost op;
    op.name = "attention";
    op.kind = OpKind::Attention;
    op.flops = flops;
    op.bytes = bytes;
    op.time_us = b.hardware().attention_us(flops, bytes, b.dtype());
    // Measured kernels: the decode token over its context, or the prompt's causal attention;
    // for MLA only DeepSeek-V3's latent geometry was measured.
    const std::int64_t attended = step.decode ? step.context : step.tokens_per_seq;
    std::optional<HardwareModel::Priced> measured;
    if (!m.mla)
        measured = b.hardware().attention(step.decode, b.kv_dtype(), m.head_dim, heads, kv_heads, seqs, attended);
    else if (const PerfDb* tables = b.hardware().tables(); tables && has_measured_mla_geometry(*m.mla))
        if (const auto t = tables->mla_attention(step.decode, b.kv_dtype(), heads, seqs, attended))
            measured = HardwareModel::Priced{t->us, t->source};
    if (measured) {
        op.time_us = measured->us;
        op.source = measured->source;
    }
    block.ops.push_back(std::move(op));
    return block.ops.back();
}

void StepBuilder::Writer::priced_together(std::size_t first, std::size_t count, double us, Provenance source)
{
    double roofline = 0;
    for (std::size_t i = first; i < first + count; ++i)
        roofline += block.ops[i].time_us;
    for (std::size_t i = first; i < first + count; ++i) {
        OpCost& op = block.ops[i];
        op.time_us = roofline > 0 ? us * op.time_us / roofline : us / double(count);
        op.source = source;
    }
}

CollectiveCost& StepBuilder::Writer::collective(std::string name, OpKind kind, CollectiveKind op, std::string axis,
                                                int group, int stride, std::int64_t payload, int calls)
{
    CollectiveCost c;
    c.name = std::move(name);
    c.kind = kind;
    c.op = op;
    c.axis = std::move(axis);
    c.group = group;
    c.stride = stride;
    c.payload = payload;
    c.calls = calls;
    const GroupLink link = op == CollectiveKind::SendRecv ? b.mesh().stage_link() : b.mesh().group(group, stride);
    c.cross_node = link.cross_node;
    c.busbw_gbps = link.busbw_gbps;
    if (op == CollectiveKind::Broadcast) // rotating roots: each device receives (calls - calls/n) buffers
        c.traffic = std::int64_t(calls) * (group - 1) * payload / std::max(group, 1);
    else
        c.traffic = std::int64_t(calls) * traffic_per_call(op, group, payload);
    // Inside a node the measured NCCL tables (fp16 ones for 2- and 4-byte traffic, int8 for
    // fp8); across nodes, and for what they do not cover, the alpha-beta form.
    const auto measured = link.cross_node
                              ? std::nullopt
                              : b.hardware().collective_in_node(op, payload, group, b.act_bytes() == 1 ? 1 : 2);
    if (measured) {
        c.time_us = calls * measured->us;
        c.source = measured->source;
    } else {
        c.time_us =
            calls * collective_time_us(double(payload), bus_factor(op, group), link.busbw_gbps, link.latency_us);
    }
    c.after_ops = int(block.ops.size());
    block.collectives.push_back(std::move(c));
    return block.collectives.back();
}

void StepBuilder::Writer::norm_stats(const std::string& name, std::string axis, int group, int stride,
                                     std::int64_t rows)
{
    if (group <= 1)
        return;
    // fp32 sum of squares (RMSNorm), plus the sum for the mean (LayerNorm).
    // The few floats are padded to a multiple of the group so the ring's chunks are equal.
    const std::int64_t stats = b.model().norm == NormKind::LayerNorm ? 2 : 1;
    const std::int64_t floats = (rows * stats + group - 1) / group * group;
    collective(name, OpKind::Norm, CollectiveKind::AllReduce, std::move(axis), group, stride, floats * 4);
}

void StepBuilder::Writer::note_activation(std::int64_t bytes)
{
    block.activation_bytes = std::max(block.activation_bytes, bytes);
}

void StepBuilder::Writer::kv_cache(const StepShape& step)
{
    const ModelSpec& m = b.model();
    const ShardGeometry& g = b.geometry();
    const std::int64_t per_token = m.mla ? std::int64_t(m.mla->kv_lora_rank + m.mla->qk_rope_head_dim) * b.kv_bytes()
                                         : 2LL * g.kv_heads_local * m.head_dim * b.kv_bytes();
    const std::int64_t seqs = g.batch_per_replica / g.token_parts; // all microbatches stay resident
    block.kv_cache_bytes = seqs * step.kv_context * per_token;
    if (g.kv_replication > 1 && !m.mla)
        block.notes.push_back("KV heads replicated " + std::to_string(g.kv_replication) + "x ("
                              + std::to_string(m.kv_heads) + " KV heads over a " + std::to_string(g.head_parts)
                              + "-way head split)");
    if (m.mla && g.head_parts > 1)
        block.notes.push_back("MLA latent KV cache kept whole on each of the " + std::to_string(g.head_parts)
                              + " head-parallel devices");
}

// ---------------------------------------------------------------- blocks

namespace {

bool is_one_d(TensorMode mode)
{
    return tensor_rank(mode) <= 1;
}

} // namespace

BlockCost StepBuilder::embedding(const StepShape& step) const
{
    BlockCost block;
    block.name = "embedding";
    Writer w(block, *this);
    const ModelSpec& m = m_model;
    const ShardGeometry& g = m_geometry;
    const std::int64_t M = step.tokens();
    const std::int64_t h = m.hidden;
    const std::int64_t positions = m.position == PositionKind::Learned ? m.max_context : 0;
    const int t = g.t;
    switch (m_strategy.tensor_mode) {
    case TensorMode::None:
        w.elementwise("embed_lookup", OpKind::Embedding, 2.0 * M * h * m_e, (m.vocab + positions) * h);
        break;
    case TensorMode::Column1D:
    case TensorMode::Row1D:
    case TensorMode::Megatron1D:
    case TensorMode::MegatronSP: {
        // Vocab-parallel rows; each device fills the tokens whose ids it owns, then a sum.
        w.elementwise("embed_lookup", OpKind::Embedding, 2.0 * M * h * m_e, (g.vocab_padded / t + positions) * h);
        const bool sharded =
            m_strategy.tensor_mode == TensorMode::MegatronSP || m_strategy.attention == AttentionMode::Data;
        w.collective("embedding", OpKind::Embedding,
                     sharded ? CollectiveKind::ReduceScatter : CollectiveKind::AllReduce, "tp", t, 1, M * h * m_e);
        break;
    }
    default: {
        // 2D / 2.5D / 3D: the table is split by hidden columns like the activations and
        // replicated over the token axes, so each device looks up its own rows: no traffic.
        const int col_parts = grid_hidden_parts(m_strategy);
        const std::int64_t rows = M / g.token_parts;
        w.elementwise("embed_lookup", OpKind::Embedding, 2.0 * rows * (h / col_parts) * m_e,
                      (m.vocab + positions) * (h / col_parts));
        break;
    }
    }
    return block;
}

BlockCost StepBuilder::dense_layer(const StepShape& step) const
{
    BlockCost block;
    block.name = "dense layer";
    if (!is_one_d(m_strategy.tensor_mode)) {
        grid_dense_layer(*this, block, step);
        return block;
    }
    Writer w(block, *this);
    attention_part(w, step, false);
    mlp_part(w, step);
    return block;
}

BlockCost StepBuilder::moe_layer(const StepShape& step) const
{
    BlockCost block;
    block.name = "moe layer";
    Writer w(block, *this);
    attention_part(w, step, true);
    moe_part(w, step);
    return block;
}

BlockCost StepBuilder::lm_head(const StepShape& step) const
{
    BlockCost block;
    block.name = "lm head";
    Writer w(block, *this);
    const ModelSpec& m = m_model;
    const int T = m_geometry.t;
    const std::int64_t h = m.hidden;
    const std::int64_t last = step.seqs; // logits only for the last token of each sequence
    const TensorMode mode = m_strategy.tensor_mode;
    const bool replicated_hidden =
        mode == TensorMode::None
        || ((mode == TensorMode::Megatron1D || mode == TensorMode::Column1D || mode == TensorMode::Row1D)
            && m_strategy.attention == AttentionMode::Heads);
    if (!replicated_hidden) {
        // Sequence parallelism gathers the whole sequence as Megatron does; the token-sharded
        // layouts gather only the last tokens, which are spread evenly (whole sequences).
        const std::int64_t rows = mode == TensorMode::MegatronSP ? step.tokens() : last;
        w.collective("final_hidden", OpKind::LmHead, CollectiveKind::AllGather, "tensor", T, 1, rows * h * m_e);
    }
    w.elementwise("final_norm", OpKind::Norm, 2.0 * last * h * m_e, m.norm_params());
    // Tied embeddings share the vocab-parallel shard in 1D layouts on a single stage;
    // otherwise the head keeps its own copy.
    const bool shares_embedding = m.tied_embeddings && is_one_d(mode) && m_strategy.pp == 1;
    const std::int64_t vocab_local = m_geometry.vocab_padded / T;
    w.gemm("lm_head", OpKind::LmHead, last, h, vocab_local, shares_embedding ? 0 : h * vocab_local);
    if (T > 1) {
        if (m_strategy.lm_head == LmHeadMode::DistributedArgmax) {
            w.elementwise("local_argmax", OpKind::LmHead, double(last) * vocab_local * m_e);
            // (max value fp32, index int32) per token and device.
            w.collective("argmax", OpKind::LmHead, CollectiveKind::AllGather, "tensor", T, 1,
                         std::int64_t(T) * last * 8);
        } else {
            w.collective("logits", OpKind::LmHead, CollectiveKind::AllGather, "tensor", T, 1,
                         last * m_geometry.vocab_padded * m_e);
        }
    }
    return block;
}

BlockCost StepBuilder::stage_handoff(const StepShape& step) const
{
    BlockCost block;
    block.name = "stage handoff";
    if (m_strategy.pp <= 1)
        return block;
    Writer w(block, *this);
    const std::int64_t bytes = hidden_shard_elements(*this, step) * m_e;
    w.collective("activations", OpKind::StageHandoff, CollectiveKind::SendRecv, "pp", 2, 0, bytes);
    return block;
}

} // namespace shard
