#include "planner.h"

#include "prediction_json.h"

#include <algorithm>
#include <cmath>

namespace shard {

namespace {

std::vector<int> divisors(int n)
{
    std::vector<int> result;
    for (int d = 1; d <= n; ++d) {
        if (n % d == 0)
            result.push_back(d);
    }
    return result;
}

int exact_root(int n, int power)
{
    const int r = int(std::lround(std::pow(double(n), 1.0 / power)));
    for (int c = std::max(1, r - 1); c <= r + 1; ++c) {
        int v = 1;
        for (int i = 0; i < power; ++i)
            v *= c;
        if (v == n)
            return c;
    }
    return 0;
}

struct TensorOption {
    TensorMode mode;
    std::vector<int> shape;
    AttentionMode attention = AttentionMode::Heads;
};

std::vector<TensorOption> tensor_options(int T)
{
    if (T == 1)
        return {{TensorMode::None, {}}};
    std::vector<TensorOption> options = {
        {TensorMode::Megatron1D, {T}},
        {TensorMode::MegatronSP, {T}},
        {TensorMode::Megatron1D, {T}, AttentionMode::Data},
        {TensorMode::Column1D, {T}},
        {TensorMode::Row1D, {T}},
    };
    if (const int q = exact_root(T, 2); q >= 2)
        options.push_back({TensorMode::Summa2D, {q, q}});
    for (const int q1 : divisors(T)) {
        if (q1 >= 2 && T / q1 >= 2)
            options.push_back({TensorMode::WeightStationary2D, {q1, T / q1}});
    }
    for (int q = 2; q * q * 2 <= T; ++q) {
        if (T % (q * q) == 0)
            options.push_back({TensorMode::Tesseract25D, {T / (q * q), q, q}});
    }
    if (const int q = exact_root(T, 3); q >= 2)
        options.push_back({TensorMode::Cube3D, {q, q, q}});
    return options;
}

} // namespace

std::vector<Strategy> enumerate_strategies(const ModelSpec& model, const Topology& topology)
{
    std::vector<Strategy> result;
    const int G = topology.total_gpus();
    for (const int pp : divisors(G)) {
        if (pp > model.layers)
            continue;
        for (const int dp : divisors(G / pp)) {
            const int T = G / pp / dp;
            for (const auto& option : tensor_options(T)) {
                Strategy s;
                s.pp = pp;
                s.dp = dp;
                s.tensor_mode = option.mode;
                s.tensor_shape = option.shape;
                s.attention = option.attention;
                if (!model.is_moe()) {
                    result.push_back(s);
                    continue;
                }
                for (const int ep : divisors(dp * T)) {
                    if (ep % dp != 0)
                        continue;
                    s.ep = ep;
                    result.push_back(s);
                }
            }
        }
    }
    return result;
}

double objective_value(const Estimate& e, Objective objective)
{
    switch (objective) {
    case Objective::TTFT:
        return e.ttft_ms;
    case Objective::TPOT:
        return e.tpot_ms;
    case Objective::Throughput:
        return -e.tokens_per_s;
    case Objective::Memory:
        return double(e.memory.total());
    }
    return e.tpot_ms;
}

double pareto_latency_ms(const Estimate& e, Objective objective)
{
    return objective == Objective::TTFT ? e.ttft_ms : e.tpot_ms;
}

PlanResult plan_candidates(const ModelSpec& model, const Topology& topology, const Workload& workload,
                           const PlannerOptions& options)
{
    workload.validate_for(model); // the CLI and the studio both plan through here
    PlanResult result;
    const auto strategies = enumerate_strategies(model, topology);
    result.candidates.reserve(strategies.size());
    for (const auto& s : strategies) {
        Candidate c;
        c.strategy = s;
        c.estimate = estimate(model, s, topology, workload, options.efficiency);
        result.feasible += c.estimate.feasible ? 1 : 0;
        result.candidates.push_back(std::move(c));
    }
    const Objective objective = options.objective;
    std::stable_sort(result.candidates.begin(), result.candidates.end(), [&](const Candidate& a, const Candidate& b) {
        if (a.estimate.feasible != b.estimate.feasible)
            return a.estimate.feasible;
        if (!a.estimate.feasible) // closer to fitting first; divisibility rejections last
            return a.estimate.memory.total() > 0
                   && (b.estimate.memory.total() == 0 || a.estimate.memory.total() < b.estimate.memory.total());
        const double va = objective_value(a.estimate, objective);
        const double vb = objective_value(b.estimate, objective);
        if (va != vb)
            return va < vb;
        return a.estimate.memory.total() < b.estimate.memory.total();
    });
    for (std::size_t i = 0; i < result.candidates.size(); ++i)
        result.candidates[i].rank = int(i) + 1;

    // Pareto front: sweep by latency, keep the ones that lower the best memory so far.
    std::vector<Candidate*> feasible;
    for (auto& c : result.candidates) {
        if (c.estimate.feasible)
            feasible.push_back(&c);
    }
    std::sort(feasible.begin(), feasible.end(), [&](const Candidate* a, const Candidate* b) {
        const double la = pareto_latency_ms(a->estimate, objective);
        const double lb = pareto_latency_ms(b->estimate, objective);
        if (la != lb)
            return la < lb;
        return a->estimate.memory.total() < b->estimate.memory.total();
    });
    std::int64_t best_memory = INT64_MAX;
    for (Candidate* c : feasible) {
        if (c->estimate.memory.total() < best_memory) {
            c->pareto = true;
            best_memory = c->estimate.memory.total();
        }
    }
    return result;
}

Plan make_plan(const ModelSpec& model, const Topology& topology, const Workload& workload, const Candidate& candidate)
{
    Plan plan;
    plan.name = model.name + " on " + topology.name + ", " + candidate.strategy.label();
    plan.model = model;
    plan.topology = topology;
    plan.workload = workload;
    plan.strategy = candidate.strategy;
    plan.prediction = prediction_to_json(candidate.strategy, candidate.estimate);
    return plan;
}

} // namespace shard
