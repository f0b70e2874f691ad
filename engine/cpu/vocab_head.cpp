#include "vocab_head.h"

#include "kernels.h"

#include "run/layer_shard.h"

#include <algorithm>
#include <limits>

namespace shard::cpu {

using Vec = std::vector<float>;

Vec interleave(const Vec& blocks, int t, std::int64_t rows, std::int64_t width)
{
    Vec out(blocks.size());
    for (int r = 0; r < t; ++r)
        for (std::int64_t i = 0; i < rows; ++i)
            std::copy_n(blocks.begin() + (r * rows + i) * width, width, out.begin() + (i * t + r) * width);
    return out;
}

Vec split_columns(const Vec& x, int t, std::int64_t rows, std::int64_t width)
{
    Vec out(x.size());
    for (int r = 0; r < t; ++r)
        for (std::int64_t i = 0; i < rows; ++i)
            std::copy_n(x.begin() + (i * t + r) * width, width, out.begin() + (r * rows + i) * width);
    return out;
}

VocabParallelHead::VocabParallelHead(const ModelWeights& weights, std::int64_t vocab_padded, int parts, int index)
    : m_weights(weights)
    , m_head(run::head_columns(weights, vocab_padded, parts, index))
    , m_vocabBegin(run::vocab_begin(vocab_padded, parts, index))
{ }

StepOutput VocabParallelHead::finish(Vec last, int seqs, Communicator* group, LmHeadMode mode, RankLog* log) const
{
    const ModelSpec& m = m_weights.model();
    const std::int64_t h = m.hidden;
    ScopedOp timer(log, "lm_head", "lm_head", -1);
    const Matrix& fn = m_weights.get("final_norm");
    const Matrix* fnb = m_weights.has("final_norm.bias") ? &m_weights.get("final_norm.bias") : nullptr;
    norm(m, last, fn.data, fnb ? std::span<const float>(fnb->data) : std::span<const float>(), seqs, h);
    const std::int64_t vl = m_head.cols;
    Vec logits(std::size_t(std::int64_t(seqs) * vl));
    gemm(last, m_head.data, logits, seqs, h, vl);
    const float lowest = -std::numeric_limits<float>::infinity();
    for (int b = 0; b < seqs; ++b)
        for (std::int64_t v = 0; v < vl; ++v)
            if (m_vocabBegin + v >= m.vocab)
                logits[b * vl + v] = lowest; // vocabulary padding never wins
    timer.stop();

    StepOutput result;
    result.hidden = std::move(last);
    result.next_tokens.resize(static_cast<std::size_t>(seqs));
    const int t = group ? group->size() : 1;
    if (t == 1) {
        for (int b = 0; b < seqs; ++b)
            result.next_tokens[b] = argmax({logits.data() + b * vl, std::size_t(vl)});
        return result;
    }
    // Ranks hold ascending vocabulary ranges, so strict ">" keeps the lowest index on ties.
    if (mode == LmHeadMode::DistributedArgmax) {
        Vec pairs(std::size_t(seqs * 2));
        for (int b = 0; b < seqs; ++b) {
            const std::int64_t i = argmax({logits.data() + b * vl, std::size_t(vl)});
            pairs[b * 2] = logits[b * vl + i];
            pairs[b * 2 + 1] = float(m_vocabBegin + i); // exact below 2^24
        }
        Vec all(pairs.size() * t);
        group->all_gather(pairs, all);
        for (int b = 0; b < seqs; ++b) {
            float best = lowest;
            for (int rank = 0; rank < t; ++rank)
                if (all[(rank * seqs + b) * 2] > best) {
                    best = all[(rank * seqs + b) * 2];
                    result.next_tokens[b] = std::int64_t(all[(rank * seqs + b) * 2 + 1]);
                }
        }
    } else {
        Vec all(logits.size() * t);
        group->all_gather(logits, all);
        for (int b = 0; b < seqs; ++b) {
            float best = lowest;
            for (int rank = 0; rank < t; ++rank)
                for (std::int64_t v = 0; v < vl; ++v)
                    if (all[(rank * seqs + b) * vl + v] > best) {
                        best = all[(rank * seqs + b) * vl + v];
                        result.next_tokens[b] = rank * vl + v;
                    }
        }
    }
    return result;
}

} // namespace shard::cpu
