#include "traffic_check.h"

#include <map>
#include <tuple>

namespace shard::run {

namespace {

struct Tally {
    std::int64_t calls = 0;
    std::int64_t bytes = 0;
};
using Buckets = std::map<std::pair<CollectiveKind, std::int64_t>, Tally>;

Buckets predicted(const PhaseCost& phase, int stage, int stages)
{
    Buckets buckets;
    const StageCost& s = phase.stages.at(stage);
    auto add = [&](const BlockCost* block, std::int64_t count) {
        if (!block || count == 0)
            return;
        for (const auto& c : block->collectives) {
            Tally& tally = buckets[{c.op, c.payload}];
            tally.calls += std::int64_t(c.calls) * count * phase.microbatches;
            tally.bytes += c.traffic * count * phase.microbatches;
        }
    };
    add(phase.block("embedding"), s.embedding ? 1 : 0);
    add(phase.block("dense layer"), s.dense_layers);
    add(phase.block("moe layer"), s.moe_layers);
    add(phase.block("lm head"), s.lm_head ? 1 : 0);
    add(phase.block("stage handoff"), (stage > 0 ? 1 : 0) + (stage + 1 < stages ? 1 : 0));
    return buckets;
}

Buckets measured(const RankLog& log, int step)
{
    Buckets buckets;
    for (const auto& r : log.records) {
        if (r.step != step || r.control)
            continue;
        Tally& tally = buckets[{r.kind, r.payload}];
        tally.calls += 1;
        tally.bytes += r.kind == CollectiveKind::SendRecv ? r.sent + r.received : r.received;
    }
    return buckets;
}

} // namespace

std::vector<std::string> compare_traffic(const Estimate& estimate, const RunResult& run, int stages)
{
    std::vector<std::string> differences;
    const int steps = int(run.steps.size());
    for (std::size_t rank = 0; rank < run.logs.size(); ++rank) {
        for (int step = 0; step < steps; ++step) {
            const PhaseCost& phase = step == 0 ? estimate.prefill : estimate.decode;
            const Buckets want = predicted(phase, run.rank_stage[rank], stages);
            const Buckets got = measured(run.logs[rank], step);
            auto where = [&](CollectiveKind kind, std::int64_t payload) {
                return "rank " + std::to_string(rank) + " step " + std::to_string(step) + " " + to_string(kind) + " of "
                       + std::to_string(payload) + " B: ";
            };
            for (const auto& [key, tally] : want) {
                const auto it = got.find(key);
                const Tally seen = it == got.end() ? Tally{} : it->second;
                if (seen.calls != tally.calls)
                    differences.push_back(where(key.first, key.second) + "predicted " + std::to_string(tally.calls)
                                          + " calls, ran " + std::to_string(seen.calls));
                else if (key.first != CollectiveKind::AllToAll && seen.bytes != tally.bytes)
                    differences.push_back(where(key.first, key.second) + "predicted " + std::to_string(tally.bytes)
                                          + " bytes, moved " + std::to_string(seen.bytes));
            }
            for (const auto& [key, tally] : got) {
                if (!want.count(key))
                    differences.push_back(where(key.first, key.second) + "not predicted, ran "
                                          + std::to_string(tally.calls) + " calls");
            }
        }
    }
    return differences;
}

} // namespace shard::run
