// GridModel's forward: embedding, layers, attention, LM head.
#include "detail/grid_layer.h"
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace shard::cpu {

namespace {

void add_chunk_bias(std::vector<float>& y, const Matrix& bias)
{
    if (!bias.data.empty())
        add_bias(y, bias.data, std::int64_t(y.size()) / bias.cols, bias.cols);
}

} // namespace

std::optional<StepOutput> GridModel::step(const std::vector<std::int64_t>& tokens, int first_seq, int seqs,
                                          std::int64_t position, int T)
{
    const ModelSpec& m = m_model;
    const std::int64_t h = m.hidden;
    const int parts = m_geometry.token_parts;
    const std::int64_t cw = m_embed.cols;
    const int seqs_local = seqs / parts;
    const std::int64_t rows = std::int64_t(seqs_local) * T; // rows held between layers
    Vec x(std::size_t(rows * cw));
    if (m_place.stage == 0) {
        ScopedOp timer(m_log, "embed_lookup", "embedding", -1);
        const std::int64_t first_row = std::int64_t(row_block()) * rows;
        for (std::int64_t r = 0; r < rows; ++r) {
            std::copy_n(m_embed.data.begin() + tokens[first_row + r] * cw, cw, x.begin() + r * cw);
            if (m.position == PositionKind::Learned)
                add({x.data() + r * cw, std::size_t(cw)}, m_positions.row(position + (first_row + r) % T));
        }
    } else {
        m_comms.prev->recv(x, 0);
    }
    const std::int64_t d = m.head_dim;
    const std::int64_t f = m.ffn;
    const std::int64_t gm = m.gated_mlp ? 2 : 1;
    // Rows entering a linear: the 3D cube gathers rows itself, SUMMA keeps them.
    for (auto& L : m_layers) {
        Vec hn = x;
        grid_norm(hn, L.input_norm, L.input_norm_bias, rows);
        Vec qkv = linear(hn, L.qkv, rows, h, L.qkv_width, true, {"qkv_proj", "qkv", L.index});
        add_chunk_bias(qkv, L.qkv_bias);
        Vec attn;
        attention(L, qkv, attn, first_seq, position, T);
        Vec o = linear(attn, L.o, rows, std::int64_t(m.heads) * d, h, false, {"o_proj", "out_proj", L.index});
        add_chunk_bias(o, L.o_bias);
        add(x, o);
        hn = x;
        grid_norm(hn, L.post_norm, L.post_norm_bias, rows);
        Vec up = linear(hn, L.gate_up, rows, h, gm * f, true, {"gate_up_proj", "mlp_up", L.index});
        add_chunk_bias(up, L.gate_up_bias);
        ScopedOp act_timer(m_log, "activation", "activation", L.index);
        const std::int64_t width = std::int64_t(up.size()) / rows / gm;
        Vec act(std::size_t(rows * width));
        if (m.gated_mlp)
            gated(m.activation, up, act, rows, width);
        else
            activate(m.activation, act = up);
        act_timer.stop();
        Vec down = linear(act, L.down, rows, f, h, false, {"down_proj", "mlp_down", L.index});
        add_chunk_bias(down, L.down_bias);
        add(x, down);
    }
    if (m_comms.next) {
        m_comms.next->send(x, 1);
        return std::nullopt;
    }
    return head(x, seqs, T);
}

void GridModel::attention(Layer& L, Vec& qkv, Vec& out, int first_seq, std::int64_t position, int T)
{
    const ModelSpec& m = m_model;
    ScopedOp timer(m_log, "attention", "attention", L.index);
    const int d = m.head_dim;
    const int a = m_geometry.heads_local;
    const int g = m_geometry.kv_heads_local;
    const std::int64_t width = std::int64_t(a + 2 * g) * d;
    const std::int64_t rows = std::int64_t(qkv.size()) / width;
    const int seqs_here = int(rows / T);
    // The rows are whole sequences (which ones depends on the layout); the KV cache only
    // needs their order on this device.
    std::vector<std::int64_t> positions(static_cast<std::size_t>(T));
    std::iota(positions.begin(), positions.end(), position);
    const std::int64_t qw = std::int64_t(a) * d;
    const std::int64_t kw = std::int64_t(g) * d;
    Vec q(std::size_t(T * qw)), k(std::size_t(T * kw)), v(std::size_t(T * kw));
    out.assign(std::size_t(rows * qw), 0.0f);
    for (int b = 0; b < seqs_here; ++b) {
        for (int t = 0; t < T; ++t) {
            const float* row = qkv.data() + (std::int64_t(b) * T + t) * width;
            std::copy_n(row, qw, q.begin() + t * qw);
            std::copy_n(row + qw, kw, k.begin() + t * kw);
            std::copy_n(row + qw + kw, kw, v.begin() + t * kw);
        }
        if (m.qk_norm) {
            rms_norm(q, L.q_norm.data, std::int64_t(T) * a, d);
            rms_norm(k, L.k_norm.data, std::int64_t(T) * g, d);
        }
        if (m.position == PositionKind::Rotary) {
            rotary(q, T, a, d, positions);
            rotary(k, T, g, d, positions);
        }
        // Every microbatch brings seqs / parts new sequences to this device.
        const std::int64_t slot = first_seq / m_geometry.token_parts + b;
        float* kc = L.k_cache.data() + slot * m_maxContext * kw;
        float* vc = L.v_cache.data() + slot * m_maxContext * kw;
        std::copy_n(k.begin(), T * kw, kc + position * kw);
        std::copy_n(v.begin(), T * kw, vc + position * kw);
        cpu::attention(q, {kc, std::size_t(m_maxContext * kw)}, {vc, std::size_t(m_maxContext * kw)},
                       {out.data() + std::int64_t(b) * T * qw, std::size_t(T * qw)}, T, positions, a, g, d);
    }
}

StepOutput GridModel::head(const Vec& x, int seqs, int T)
{
    const ModelSpec& m = m_model;
    const std::int64_t h = m.hidden;
    const int parts = m_geometry.token_parts;
    const int Tn = m_strategy.tensor_size();
    const int seqs_local = seqs / parts;
    const std::int64_t cw = m_embed.cols;
    // The last token of each local sequence, this rank's hidden chunk of it.
    Vec mine(std::size_t(seqs_local * cw));
    for (int b = 0; b < seqs_local; ++b)
        std::copy_n(x.begin() + (std::int64_t(b) * T + T - 1) * cw, cw, mine.begin() + b * cw);
    Vec all(mine.size() * Tn);
    m_comms.tp->all_gather(mine, all);
    ScopedOp timer(m_log, "gather_last", "lm_head", -1);
    Vec last(std::size_t(seqs * h));
    const auto& shape = m_strategy.tensor_shape;
    for (int u = 0; u < Tn; ++u) {
        int blk = 0;
        int chunk = 0;
        if (m_mode == TensorMode::WeightStationary2D) {
            chunk = u; // i * q2 + j is the tensor index itself
        } else {
            const int q = shape.back();
            const int l = shape.size() == 3 ? u / (q * q) : 0;
            const int i = (u / q) % q;
            const int j = u % q;
            blk = m_mode == TensorMode::Cube3D ? i * q + j : m_mode == TensorMode::Tesseract25D ? l * q + i : i;
            chunk = m_mode == TensorMode::Cube3D ? l : j;
        }
        for (int b = 0; b < seqs_local; ++b)
            std::copy_n(all.begin() + (std::int64_t(u) * seqs_local + b) * cw, cw,
                        last.begin() + (std::int64_t(blk) * seqs_local + b) * h + chunk * cw);
    }
    timer.stop();
    return m_head.finish(std::move(last), seqs, m_comms.tp, m_strategy.lm_head, m_log);
}

} // namespace shard::cpu
