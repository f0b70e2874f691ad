// The MoE block and the LM head of ShardedModel.
#include "detail/sharded_layer.h"
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace shard::cpu {

namespace {

using Vec = std::vector<float>;

// One expert on `rows` rows; the down-projection bias is added by the caller (once).
void run_expert(const ModelSpec& model, const ExpertWeights& e, std::span<const float> x, std::span<float> out,
                std::int64_t rows)
{
    expert_mlp(model, e.gate.if_present(), e.up, e.down, e.gate_bias.if_present(), e.up_bias.if_present(), nullptr, x,
               out, rows);
}

void shared_gate(const Matrix& gate, std::span<const float> x, std::span<float> y, std::int64_t rows, std::int64_t h)
{
    if (gate.data.empty())
        return;
    Vec g(static_cast<std::size_t>(rows));
    gemm(x, gate.data, g, rows, h, 1);
    for (std::int64_t i = 0; i < rows; ++i) {
        const float s = 1.0f / (1.0f + std::exp(-g[i]));
        for (std::int64_t c = 0; c < h; ++c)
            y[i * h + c] *= s;
    }
}

} // namespace

void ShardedModel::moe_block(Layer& L, Vec& x, std::int64_t M)
{
    const ModelSpec& m = m_model;
    const MoeSpec& moe = *m.moe;
    const int t = m_t;
    const int r = m_place.tensor;
    const int ep = m_strategy.ep;
    const int k = moe.experts_per_token;
    const std::int64_t h = m.hidden;
    const std::int64_t held = std::int64_t(x.size()) / h;
    ScopedOp norm_timer(m_log, "post_attention_norm", "norm", L.index);
    Vec hn = x;
    norm(m, hn, L.post_norm.data, L.post_norm_bias.data, held, h);
    norm_timer.stop();
    std::int64_t routed = held;
    if (ep == 1 && m_sequenceSharded && t > 1) { // tensor-parallel experts need every token
        Vec full(std::size_t(M * h));
        m_comms.tp->all_gather(hn, full);
        hn = std::move(full);
        routed = M;
    }
    ScopedOp router_timer(m_log, "router", "router", L.index);
    Vec logits(std::size_t(routed * moe.experts));
    gemm(hn, L.router.data, logits, routed, h, moe.experts);
    const Routing routing = route_tokens(logits, routed, moe.experts, k);
    router_timer.stop();
    Vec y(std::size_t(routed * h), 0.0f);
    Vec out(static_cast<std::size_t>(h));
    const bool add_biases = ep > 1 || r == 0; // biases once, before a sum over ranks

    if (ep == 1) {
        ScopedOp experts_timer(m_log, "experts", "experts", L.index);
        for (std::int64_t i = 0; i < routed; ++i) {
            for (int j = 0; j < k; ++j) {
                const ExpertWeights& e = L.experts.at(routing.experts[i * k + j]);
                run_expert(m, e, {hn.data() + i * h, std::size_t(h)}, out, 1);
                if (add_biases && !e.down_bias.data.empty())
                    add(out, e.down_bias.data);
                const float w = routing.weights[i * k + j];
                for (std::int64_t c = 0; c < h; ++c)
                    y[i * h + c] += w * out[c];
            }
        }
    } else {
        // Expert TP: the etp group gathers its tokens first; each member then dispatches the
        // same slots to its counterparts, which hold a 1/etp slice of every local expert.
        const int etp = m_geometry.expert_tp;
        const int etp_index = (m_place.replica * t + r) % etp;
        Vec gathered;
        Routing gathered_routing;
        if (etp > 1) {
            gathered.resize(hn.size() * etp);
            m_comms.etp->all_gather(hn, gathered);
            Vec g_logits(gathered.size() / h * moe.experts);
            gemm(gathered, L.router.data, g_logits, std::int64_t(gathered.size()) / h, h, moe.experts);
            gathered_routing = route_tokens(g_logits, std::int64_t(gathered.size()) / h, moe.experts, k);
        }
        const Vec& tokens = etp > 1 ? gathered : hn;
        const Routing& route = etp > 1 ? gathered_routing : routing;
        const std::int64_t token_rows = std::int64_t(tokens.size()) / h;
        // Dispatch: token slots grouped by the EP rank that owns the expert.
        const std::int64_t slots = token_rows * k;
        std::vector<std::int64_t> order(static_cast<std::size_t>(slots));
        std::iota(order.begin(), order.end(), 0);
        auto owner = [&](std::int64_t slot) { return route.experts[slot] / m_geometry.experts_local; };
        std::stable_sort(order.begin(), order.end(),
                         [&](std::int64_t a, std::int64_t b) { return owner(a) < owner(b); });
        std::vector<std::int64_t> counts(ep, 0);
        std::vector<std::int64_t> id_counts(ep, 0);
        Vec send(std::size_t(slots * h));
        Vec ids(static_cast<std::size_t>(slots));
        for (std::int64_t s = 0; s < slots; ++s) {
            const std::int64_t slot = order[s];
            std::copy_n(tokens.begin() + (slot / k) * h, h, send.begin() + s * h);
            ids[s] = float(route.experts[slot]);
            counts[owner(slot)] += h;
            id_counts[owner(slot)] += 1;
        }
        std::vector<std::int64_t> recv_ids_counts;
        const Vec recv_ids = m_comms.routing->all_to_allv(ids, id_counts, recv_ids_counts);
        std::vector<std::int64_t> recv_counts;
        const Vec received = m_comms.ep->all_to_allv(send, counts, recv_counts);
        // Run each local expert on the rows routed to it.
        ScopedOp experts_timer(m_log, "experts", "experts", L.index);
        const std::int64_t n = std::int64_t(recv_ids.size());
        Vec results(received.size());
        std::map<int, std::vector<std::int64_t>> by_expert;
        for (std::int64_t s = 0; s < n; ++s)
            by_expert[int(recv_ids[s])].push_back(s);
        for (const auto& [expert, rows] : by_expert) {
            const ExpertWeights& e = L.experts.at(expert);
            const std::int64_t count = std::int64_t(rows.size());
            Vec in(std::size_t(count * h));
            Vec res(std::size_t(count * h));
            for (std::int64_t i = 0; i < count; ++i)
                std::copy_n(received.begin() + rows[i] * h, h, in.begin() + i * h);
            run_expert(m, e, in, res, count);
            if (etp_index == 0 && !e.down_bias.data.empty())
                add_bias(res, e.down_bias.data, count, h);
            for (std::int64_t i = 0; i < count; ++i)
                std::copy_n(res.begin() + i * h, h, results.begin() + rows[i] * h);
        }
        experts_timer.stop();
        // Combine: every slot goes back to the rank it came from, in the order it was sent.
        Vec returned(send.size());
        m_comms.ep->all_to_allv(results, recv_counts, returned, counts);
        Vec yg(tokens.size(), 0.0f);
        for (std::int64_t s = 0; s < slots; ++s) {
            const std::int64_t slot = order[s];
            const float w = route.weights[slot];
            for (std::int64_t c = 0; c < h; ++c)
                yg[(slot / k) * h + c] += w * returned[s * h + c];
        }
        if (etp > 1) // sum the etp slices and hand each member its own tokens back
            m_comms.etp->reduce_scatter(yg, y);
        else
            y = std::move(yg);
    }
    if (moe.shared_experts > 0) {
        ScopedOp shared_timer(m_log, "shared_experts", "shared_experts", L.index);
        Vec shared(std::size_t(routed * h));
        run_expert(m, L.shared, hn, shared, routed);
        if (add_biases && !L.shared.down_bias.data.empty())
            add_bias(shared, L.shared.down_bias.data, routed, h);
        shared_gate(L.shared_gate, hn, shared, routed, h);
        add(y, shared);
    }
    if (ep == 1 && t > 1) {
        if (m_sequenceSharded) {
            Vec local(std::size_t(M / t * h));
            m_comms.tp->reduce_scatter(y, local);
            y = std::move(local);
        } else {
            m_comms.tp->all_reduce(y);
        }
    }
    add(x, y);
    if (ep > 1 && m_moeRowsSharded) { // back to the replicated rows attention expects
        Vec full(std::size_t(held * t * h));
        m_comms.tp->all_gather(x, full);
        full.resize(std::size_t(M * h));
        x = std::move(full);
    }
}

StepOutput ShardedModel::head(Vec& x, int seqs, int T)
{
    const ModelSpec& m = m_model;
    const int t = m_t;
    const std::int64_t h = m.hidden;
    const std::int64_t M = std::int64_t(seqs) * T;
    const bool data = m_strategy.attention == AttentionMode::Data;
    Vec last(std::size_t(std::int64_t(seqs) * h));
    if (m_strategy.tensor_mode == TensorMode::MegatronSP && t > 1) {
        Vec full(std::size_t(M * h));
        m_comms.tp->all_gather(x, full);
        x = std::move(full);
    }
    if (data && t > 1) {
        const int local = seqs / t;
        Vec mine(std::size_t(local * h));
        for (int b = 0; b < local; ++b)
            std::copy_n(x.begin() + (std::int64_t(b) * T + T - 1) * h, h, mine.begin() + b * h);
        m_comms.tp->all_gather(mine, last);
    } else {
        for (int b = 0; b < seqs; ++b)
            std::copy_n(x.begin() + (std::int64_t(b) * T + T - 1) * h, h, last.begin() + b * h);
    }
    return m_head.finish(std::move(last), seqs, t > 1 ? m_comms.tp : nullptr, m_strategy.lm_head, m_log);
}

} // namespace shard::cpu
