#pragma once

#include "cost/estimate.h"

#include "core/plan.h"

#include <vector>

namespace shard {

struct Candidate {
    Strategy strategy;
    Estimate estimate;
    bool pareto = false; // on the front of latency vs memory per device, among feasible ones
    int rank = 0; // 1-based among all candidates, feasible first
};

struct PlannerOptions {
    Objective objective = Objective::TPOT;
    Efficiency efficiency;
};

struct PlanResult {
    std::vector<Candidate> candidates; // ranked: feasible by objective, then infeasible
    int feasible = 0;
};

// Every strategy that uses all GPUs of the topology: pp x dp x tensor layouts (1D column,
// row, Megatron, Megatron+SP, attention-DP, SUMMA, 2D weight-stationary, 2.5D, 3D) and,
// for MoE models, every EP degree that spans whole replicas.
std::vector<Strategy> enumerate_strategies(const ModelSpec& model, const Topology& topology);

PlanResult plan_candidates(const ModelSpec& model, const Topology& topology, const Workload& workload,
                           const PlannerOptions& options = {});

// Lower is better: ms for TTFT and TPOT, negated tokens/s for throughput, bytes for memory.
double objective_value(const Estimate& estimate, Objective objective);
// The latency axis of the Pareto front for an objective (TTFT for ttft, TPOT otherwise).
double pareto_latency_ms(const Estimate& estimate, Objective objective);

// A plan file for one candidate, its prediction attached.
Plan make_plan(const ModelSpec& model, const Topology& topology, const Workload& workload, const Candidate& candidate);

} // namespace shard
