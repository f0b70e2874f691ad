// The 1D recipes (DESIGN.md section 2): column, row, the Megatron pairing, sequence
// parallelism, attention data parallelism, and the expert-parallel MoE block.
#include "perf_db.h"
#include "step_builder.h"

#include <algorithm>
#include <cmath>

namespace shard {

namespace {

std::int64_t ceil_div(std::int64_t a, std::int64_t b)
{
    return (a + b - 1) / b;
}

// DeepSeek MLA projections for `rows` tokens and `heads` local heads; down-projections
// (q_a, kv_a) are replicated, up-projections split by heads.
void mla_projections(StepBuilder::Writer& w, std::int64_t rows, int heads)
{
    const ModelSpec& m = w.b.model();
    const MlaSpec& a = *m.mla;
    const int e = w.b.act_bytes();
    const std::int64_t qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    if (a.q_lora_rank > 0) {
        w.gemm("q_a_proj", OpKind::QKV, rows, m.hidden, a.q_lora_rank, m.hidden * a.q_lora_rank);
        w.elementwise("q_a_norm", OpKind::Norm, 2.0 * rows * a.q_lora_rank * e, a.q_lora_rank);
        w.gemm("q_b_proj", OpKind::QKV, rows, a.q_lora_rank, heads * qk, std::int64_t(a.q_lora_rank) * heads * qk);
    } else {
        w.gemm("q_proj", OpKind::QKV, rows, m.hidden, heads * qk, m.hidden * heads * qk);
    }
    const std::int64_t kv_a = a.kv_lora_rank + a.qk_rope_head_dim;
    w.gemm("kv_a_proj", OpKind::QKV, rows, m.hidden, kv_a, m.hidden * kv_a);
    w.elementwise("kv_a_norm", OpKind::Norm, 2.0 * rows * a.kv_lora_rank * e, a.kv_lora_rank);
    const std::int64_t kv_b = std::int64_t(heads) * (a.qk_nope_head_dim + a.v_head_dim);
    w.gemm("kv_b_proj", OpKind::QKV, rows, a.kv_lora_rank, kv_b, std::int64_t(a.kv_lora_rank) * kv_b);
}

} // namespace

void StepBuilder::attention_part(Writer& w, const StepShape& step, bool moe_follows) const
{
    const ModelSpec& m = m_model;
    const ShardGeometry& g = m_geometry;
    const TensorMode mode = m_strategy.tensor_mode;
    const bool data = m_strategy.attention == AttentionMode::Data;
    const int t = g.t;
    const int e = m_e;
    const std::int64_t M = step.tokens();
    const std::int64_t h = m.hidden;
    const std::int64_t d = m.head_dim;
    const std::int64_t rows = data ? M / t : M;
    const std::int64_t seqs = data ? step.seqs / t : step.seqs;
    const int heads = g.heads_local;
    const int kvh = g.kv_heads_local;
    // Tokens leave this block sharded over tp when an expert-parallel layer follows.
    const bool shard_out = moe_follows && m_strategy.ep > 1 && t > 1 && !data;

    if (mode == TensorMode::MegatronSP) {
        w.elementwise("input_norm", OpKind::Norm, 2.0 * (M / t) * h * e, m.norm_params());
        w.collective("qkv_input", OpKind::QKV, CollectiveKind::AllGather, "tp", t, 1, M * h * e);
    } else {
        w.elementwise("input_norm", OpKind::Norm, 2.0 * rows * h * e, m.norm_params());
    }

    const std::int64_t qkv_width = std::int64_t(heads + 2 * kvh) * d;
    if (m.mla) {
        mla_projections(w, rows, heads);
    } else if (mode == TensorMode::Row1D) {
        const std::int64_t full = std::int64_t(m.heads + 2 * m.kv_heads) * d;
        w.gemm("qkv_proj", OpKind::QKV, M, h / t, full, (h / t) * full + (m.qkv_bias ? full : 0));
        w.collective("qkv_proj", OpKind::QKV, CollectiveKind::AllReduce, "tp", t, 1, M * full * e);
    } else {
        w.gemm("qkv_proj", OpKind::QKV, rows, h, qkv_width, h * qkv_width + (m.qkv_bias ? qkv_width : 0));
    }
    if (m.position == PositionKind::Rotary || m.qk_norm)
        w.elementwise(m.qk_norm ? "qk_norm_rotary" : "rotary", OpKind::QKV, 2.0 * rows * (heads + kvh) * d * e,
                      m.qk_norm ? 2 * d : 0);
    w.attention_core(step, seqs, heads, kvh);
    w.kv_cache(step);

    const std::int64_t attn_width = std::int64_t(heads) * (m.mla ? m.mla->v_head_dim : d);
    const std::int64_t o_bias = m.out_bias ? h : 0;
    switch (mode) {
    case TensorMode::Column1D: {
        const std::int64_t full = std::int64_t(m.heads) * d;
        w.collective("attention_out", OpKind::Attention, CollectiveKind::AllGather, "tp", t, 1, M * full * e);
        w.gemm("o_proj", OpKind::OutProj, M, full, h / t, full * (h / t) + o_bias / t);
        w.collective("o_proj", OpKind::OutProj, CollectiveKind::AllGather, "tp", t, 1, M * h * e);
        break;
    }
    case TensorMode::Row1D:
        w.gemm("o_proj", OpKind::OutProj, M, attn_width / t, h, (attn_width / t) * h + o_bias);
        w.collective("o_proj", OpKind::OutProj, CollectiveKind::AllReduce, "tp", t, 1, M * h * e);
        break;
    default:
        w.gemm("o_proj", OpKind::OutProj, rows, attn_width, h, attn_width * h + o_bias);
        if (t > 1 && !data) {
            if (mode == TensorMode::MegatronSP)
                w.collective("o_proj", OpKind::OutProj, CollectiveKind::ReduceScatter, "tp", t, 1, M * h * e);
            else if (shard_out)
                w.collective("o_proj", OpKind::OutProj, CollectiveKind::ReduceScatter, "tp", t, 1,
                             ceil_div(M, t) * t * h * e);
            else
                w.collective("o_proj", OpKind::OutProj, CollectiveKind::AllReduce, "tp", t, 1, M * h * e);
        }
        break;
    }
    w.elementwise("residual", OpKind::OutProj, 3.0 * (mode == TensorMode::MegatronSP ? M / t : rows) * h * e);
}

void StepBuilder::mlp_part(Writer& w, const StepShape& step) const
{
    const ModelSpec& m = m_model;
    const TensorMode mode = m_strategy.tensor_mode;
    const bool data = m_strategy.attention == AttentionMode::Data;
    const int t = m_geometry.t;
    const int e = m_e;
    const std::int64_t M = step.tokens();
    const std::int64_t h = m.hidden;
    const std::int64_t f = m.ffn;
    const std::int64_t gm = m.gated_mlp ? 2 : 1;
    const std::int64_t up_bias = m.mlp_bias ? gm * f / t : 0;
    const std::int64_t down_bias = m.mlp_bias ? h : 0;
    const bool sharded_in = mode == TensorMode::MegatronSP || data;

    w.elementwise("post_attention_norm", OpKind::Norm, 2.0 * (sharded_in ? M / t : M) * h * e,
                  (m.norms_per_layer - 1) * m.norm_params());
    if (sharded_in && t > 1)
        w.collective("mlp_input", OpKind::MlpUp, CollectiveKind::AllGather, "tp", t, 1, M * h * e);
    switch (mode) {
    case TensorMode::Column1D:
        w.gemm("gate_up_proj", OpKind::MlpUp, M, h, gm * f / t, h * gm * f / t + up_bias);
        w.elementwise("activation", OpKind::Activation, double(M) * (gm + 1) * (f / t) * e);
        w.collective("mlp_hidden", OpKind::Activation, CollectiveKind::AllGather, "tp", t, 1, M * f * e);
        w.gemm("down_proj", OpKind::MlpDown, M, f, h / t, f * (h / t) + down_bias / t);
        w.collective("down_proj", OpKind::MlpDown, CollectiveKind::AllGather, "tp", t, 1, M * h * e);
        break;
    case TensorMode::Row1D:
        w.gemm("gate_up_proj", OpKind::MlpUp, M, h / t, gm * f, (h / t) * gm * f + (m.mlp_bias ? gm * f : 0));
        w.collective("gate_up_proj", OpKind::MlpUp, CollectiveKind::AllReduce, "tp", t, 1, M * gm * f * e);
        w.elementwise("activation", OpKind::Activation, double(M) * (gm + 1) * f * e);
        w.gemm("down_proj", OpKind::MlpDown, M, f / t, h, (f / t) * h + down_bias);
        w.collective("down_proj", OpKind::MlpDown, CollectiveKind::AllReduce, "tp", t, 1, M * h * e);
        break;
    default:
        w.gemm("gate_up_proj", OpKind::MlpUp, M, h, gm * f / t, h * gm * f / t + up_bias);
        w.elementwise("activation", OpKind::Activation, double(M) * (gm + 1) * (f / t) * e);
        w.gemm("down_proj", OpKind::MlpDown, M, f / t, h, (f / t) * h + down_bias);
        if (t > 1)
            w.collective("down_proj", OpKind::MlpDown,
                         sharded_in ? CollectiveKind::ReduceScatter : CollectiveKind::AllReduce, "tp", t, 1, M * h * e);
        break;
    }
    w.elementwise("residual", OpKind::MlpDown, 3.0 * (sharded_in ? M / t : M) * h * e);
}

void StepBuilder::moe_part(Writer& w, const StepShape& step) const
{
    const ModelSpec& m = m_model;
    const MoeSpec& moe = *m.moe;
    const ShardGeometry& g = m_geometry;
    const bool data = m_strategy.attention == AttentionMode::Data;
    const bool sp = m_strategy.tensor_mode == TensorMode::MegatronSP;
    const int t = g.t;
    const int ep = m_strategy.ep;
    const int etp = g.expert_tp;
    const int e = m_e;
    const std::int64_t M = step.tokens();
    const std::int64_t h = m.hidden;
    const std::int64_t gm = m.gated_mlp ? 2 : 1;
    const std::int64_t k = moe.experts_per_token;
    const bool tokens_sharded = sp || data || (ep > 1 && t > 1);
    // Tokens this device routes: a 1/t share (padded) when tokens are sharded over tp.
    const std::int64_t local = tokens_sharded ? (sp || data ? M / t : ceil_div(M, t)) : M;

    w.elementwise("post_attention_norm", OpKind::Norm, 2.0 * local * h * e, (m.norms_per_layer - 1) * m.norm_params());
    if (ep == 1 && (sp || data) && t > 1) // plain tensor-parallel experts need every token
        w.collective("moe_input", OpKind::Router, CollectiveKind::AllGather, "tp", t, 1, M * h * e);
    const std::int64_t routed = ep == 1 ? M : local;
    w.gemm("router", OpKind::Router, routed, h, moe.experts, h * moe.experts + (moe.router_bias ? moe.experts : 0));
    w.elementwise("top_k", OpKind::Router, double(routed) * moe.experts * e);
    if (moe.shared_experts > 0) {
        // Shared experts: split like a Megatron MLP when experts are tensor parallel,
        // otherwise replicated and applied to the tokens each device holds.
        const std::int64_t sf = moe.shared_expert_ffn * moe.shared_experts / (ep == 1 ? t : 1);
        w.gemm("shared_experts.up", OpKind::SharedExperts, routed, h, gm * sf,
               h * gm * sf + (moe.shared_expert_gate ? h : 0));
        w.elementwise("shared_experts.act", OpKind::SharedExperts, double(routed) * (gm + 1) * sf * e);
        w.gemm("shared_experts.down", OpKind::SharedExperts, routed, sf, h, sf * h);
    }

    // With expert TP the etp devices first gather their tokens, so each dispatches the same
    // token slots to its counterparts and every collective has a size known in advance.
    const bool expert_tp = ep > 1 && etp > 1;
    const std::int64_t slot_bytes = (expert_tp ? etp : 1) * local * k * h * e;
    if (expert_tp)
        w.collective("experts.gather", OpKind::Experts, CollectiveKind::AllGather, "etp", etp, 1, etp * local * h * e);
    if (ep > 1)
        w.collective("experts.dispatch", OpKind::Experts, CollectiveKind::AllToAll, "ep", ep, etp, slot_bytes);
    // Balanced routing: every device receives as many token slots as it sends.
    const double rows = ep > 1 ? double(etp) * local * k : double(M) * k;
    const double stage_tokens = ep > 1 ? double(local) * g.t * m_strategy.dp : double(M);
    const double p_used = 1.0 - std::pow(1.0 - double(k) / moe.experts, stage_tokens);
    const double active = g.experts_local * p_used;
    const std::int64_t per_expert = active > 0 ? std::int64_t(std::ceil(rows / active)) : 0;
    const std::int64_t ef = moe.expert_ffn / etp;
    const std::size_t fused_first = w.block.ops.size();
    w.gemm("experts.up", OpKind::Experts, per_expert, h, gm * ef, std::int64_t(g.experts_local) * h * gm * ef, active);
    w.elementwise("experts.act", OpKind::Experts, rows * (gm + 1) * ef * e);
    w.gemm("experts.down", OpKind::Experts, per_expert, ef, h, std::int64_t(g.experts_local) * ef * h, active);
    if (ep > 1)
        w.collective("experts.combine", OpKind::Experts, CollectiveKind::AllToAll, "ep", ep, etp, slot_bytes);
    if (expert_tp)
        w.collective("experts.reduce", OpKind::Experts, CollectiveKind::ReduceScatter, "etp", etp, 1,
                     etp * local * h * e);
    w.elementwise("experts.weighted_sum", OpKind::Experts, double(routed) * (k + 1) * h * e);
    // The measured fused MoE kernel runs these four ops (up, activation, down, combine) for
    // all the tokens of the expert-parallel group, each rank its own experts' share.
    if (const PerfDb* tables = w.b.hardware().tables()) {
        const MoeTable::Shape shape{h, moe.expert_ffn, int(k), moe.experts, etp, ep, m.gated_mlp};
        if (const auto fused = tables->moe(m_workload.dtype, shape, std::int64_t(std::llround(rows * ep / double(k)))))
            w.priced_together(fused_first, 4, fused->us, fused->source);
    }
    if (ep == 1 && t > 1)
        w.collective("experts", OpKind::Experts, sp || data ? CollectiveKind::ReduceScatter : CollectiveKind::AllReduce,
                     "tp", t, 1, M * h * e);
    if (ep > 1 && t > 1 && !sp && !data) // back to the replicated layout attention expects
        w.collective("experts.restore", OpKind::Experts, CollectiveKind::AllGather, "tp", t, 1, local * t * h * e);
    w.elementwise("residual", OpKind::Experts, 3.0 * local * h * e);
}

} // namespace shard
