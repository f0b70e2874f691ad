#pragma once

#include "reference_model.h"
#include "run/communicator.h"
#include "run/model_weights.h"

#include "core/strategy.h"

namespace shard::cpu {

// The final norm and the vocabulary-parallel LM head shared by every layout: this rank's
// slice of the (padded) vocabulary, greedy argmax across the group, logits of padding
// never win. With one rank it is the plain head.
class VocabParallelHead {
public:
    VocabParallelHead(const ModelWeights& weights, std::int64_t vocab_padded, int parts, int index);

    // `last` is the full hidden state [seqs, hidden] of the last token of each sequence,
    // the same on every rank of `group` (null for one rank).
    StepOutput finish(std::vector<float> last, int seqs, Communicator* group, LmHeadMode mode, RankLog* log) const;

private:
    const ModelWeights& m_weights;
    Matrix m_head; // [hidden, vocab_padded / parts]
    std::int64_t m_vocabBegin = 0;
};

// AllGather output [t][rows][width] -> row-major [rows][t * width].
std::vector<float> interleave(const std::vector<float>& blocks, int t, std::int64_t rows, std::int64_t width);
// Row-major [rows][t * width] -> [t][rows][width], so a ReduceScatter hands each rank its columns.
std::vector<float> split_columns(const std::vector<float>& x, int t, std::int64_t rows, std::int64_t width);

} // namespace shard::cpu
