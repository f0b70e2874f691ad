#include "cpu_executor.h"

#include "run/mesh_layout.h"

#include "grid_model.h"
#include "inprocess_communicator.h"
#include "kernels.h"
#include "sharded_model.h"

#include "cost/shard_geometry.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

namespace shard::cpu {

namespace {

int steps_of(const Plan& plan, int decode_steps)
{
    return 1 + (decode_steps >= 0 ? decode_steps : plan.workload.generate);
}

// Every communicator of the run, built before the threads start so all members agree on
// group ids.
struct Groups {
    std::vector<std::unique_ptr<InProcessCommunicator>> owned;
    std::vector<RankComms> comms;
    std::vector<InProcessCommunicator*> tokens; // per rank: token feedback (pp > 1), or null
    std::vector<int> token_root_rank; // per rank: its index in that group

    InProcessCommunicator* make(InProcessWorld& world, int id, const std::string& name, const std::vector<int>& members,
                                int rank, RankLog* log, bool control)
    {
        const int self = int(std::find(members.begin(), members.end(), rank) - members.begin());
        owned.push_back(std::make_unique<InProcessCommunicator>(world, id, name, members, self, log, control));
        return owned.back().get();
    }
};

Groups build_groups(InProcessWorld& world, const Strategy& s, const run::MeshLayout& mesh, std::vector<RankLog>& logs)
{
    Groups groups;
    const int T = mesh.t;
    const int stage_size = mesh.stage_size();
    const int ranks = mesh.ranks();
    groups.comms.resize(ranks);
    groups.tokens.assign(ranks, nullptr);
    int id = 0;
    for (int stage = 0; stage < s.pp; ++stage) {
        const int base = mesh.rank(stage, 0, 0);
        if (T > 1) {
            for (int replica = 0; replica < s.dp; ++replica) {
                const std::vector<int>& members = mesh.group(stage, replica).ranks;
                for (const int rank : members)
                    groups.comms[rank].tp = groups.make(world, id, "tp", members, rank, &logs[rank], false);
                ++id;
            }
        }
        if (tensor_rank(s.tensor_mode) > 1) {
            // One group per axis of the grid (GridLayout's numbering, shared with the CUDA engine).
            const auto axes = grid_axes(s);
            for (int replica = 0; replica < s.dp; ++replica) {
                const int block = base + replica * T;
                for (std::size_t axis = 0; axis < axes.size(); ++axis) {
                    const GridAxis& a = axes[axis];
                    for (int u = 0; u < T; ++u) {
                        if (grid_index_in_group(a, u) != 0)
                            continue; // u is the first member of its group
                        std::vector<int> members;
                        for (int k = 0; k < a.size; ++k)
                            members.push_back(block + u + k * a.stride);
                        const bool last = axis + 1 == axes.size();
                        const bool second = axis + 2 == axes.size();
                        for (const int rank : members) {
                            Communicator* c = groups.make(world, id, a.name, members, rank, &logs[rank], false);
                            (last     ? groups.comms[rank].row
                             : second ? groups.comms[rank].col
                                      : groups.comms[rank].depth) = c;
                        }
                        ++id;
                    }
                }
            }
        }
        if (mesh.ep > 1) {
            for (int r = 0; r < mesh.etp; ++r) {
                const std::vector<int> members = mesh.members(mesh.expert_color, stage * mesh.etp + r);
                for (const int rank : members) {
                    groups.comms[rank].ep = groups.make(world, id, "ep", members, rank, &logs[rank], false);
                    groups.comms[rank].routing =
                        groups.make(world, id + 1, "ep.routing", members, rank, &logs[rank], true);
                }
                id += 2;
            }
            for (int e = 0; e < mesh.ep && mesh.etp > 1; ++e) {
                const std::vector<int> members = mesh.members(mesh.expert_tp_color, stage * mesh.ep + e);
                for (const int rank : members)
                    groups.comms[rank].etp = groups.make(world, id, "etp", members, rank, &logs[rank], false);
                ++id;
            }
        }
        if (stage + 1 < s.pp) {
            for (int offset = 0; offset < stage_size; ++offset) {
                const std::vector<int> members{base + offset, mesh.rank(stage + 1, 0, 0) + offset};
                groups.comms[members[0]].next =
                    groups.make(world, id, "pp", members, members[0], &logs[members[0]], false);
                groups.comms[members[1]].prev =
                    groups.make(world, id, "pp", members, members[1], &logs[members[1]], false);
                ++id;
            }
        }
    }
    if (s.pp > 1) { // the last stage hands the sampled tokens back to the first
        for (int replica = 0; replica < s.dp; ++replica) {
            std::vector<int> members{mesh.rank(s.pp - 1, replica, 0)};
            for (int i = 0; i < T; ++i)
                members.push_back(mesh.rank(0, replica, i));
            for (const int rank : members)
                groups.tokens[rank] = groups.make(world, id, "tokens", members, rank, &logs[rank], true);
            ++id;
        }
    }
    return groups;
}

} // namespace

RunResult run_cpu(const Plan& plan, const ModelWeights& weights, const CpuRunOptions& options)
{
    const ModelSpec& m = weights.model();
    const Strategy& s = plan.strategy;
    const Workload& w = plan.workload;
    if (!(plan.model == m))
        throw Error("the weights were made for " + m.name + ", the plan is for " + plan.model.name);
    if (const auto why = reference_unsupported_reason(m); !why.empty())
        throw Error("cannot run " + plan.name + ": " + why);
    const ShardGeometry g = shard_geometry(m, s, w);
    if (!g.feasible())
        throw Error("cannot run " + s.label() + " on " + m.name + ": " + g.reject);
    if (const auto why = cpu_unsupported_layout(m, s); !why.empty())
        throw Error("cannot run " + s.label() + " on " + m.name + ": " + why);
    const int steps = steps_of(plan, options.decode_steps);
    const int max_context = w.prompt + steps;
    if (m.position == PositionKind::Learned && max_context > m.max_context)
        throw Error("prompt + generated tokens (" + std::to_string(max_context) + ") exceed the model's "
                    + std::to_string(m.max_context) + " learned positions");
    const run::MeshLayout mesh = run::mesh_layout(s);
    const int ranks = mesh.ranks();

    RunResult result;
    result.logs.resize(ranks);
    result.rank_stage.resize(ranks);
    result.steps.assign(
        steps, StepOutput{std::vector<float>(std::size_t(w.batch) * m.hidden), std::vector<std::int64_t>(w.batch)});
    InProcessWorld world(ranks);
    const auto epoch = RankLog::Clock::now();
    for (auto& log : result.logs)
        log.epoch = epoch;
    Groups groups = build_groups(world, s, mesh, result.logs);
    const auto prompt = prompt_tokens(m, w.batch, w.prompt);
    std::mutex mutex;
    std::string first_error;
    const auto start = std::chrono::steady_clock::now();

    auto body = [&](int rank) {
        set_blas_threads(1);
        RankPlace place;
        place.position = rank;
        place.stage = mesh.stage_of(rank);
        place.replica = mesh.replica_of(rank);
        place.tensor = mesh.tensor_of(rank);
        std::unique_ptr<RankModel> model;
        if (tensor_rank(s.tensor_mode) > 1)
            model =
                std::make_unique<GridModel>(weights, s, g, place, groups.comms[rank], max_context, &result.logs[rank]);
        else
            model = std::make_unique<ShardedModel>(weights, s, g, place, groups.comms[rank], max_context,
                                                   &result.logs[rank]);
        const int B = g.batch_per_replica;
        const int first_global = place.replica * B;
        std::vector<std::int64_t> current(static_cast<std::size_t>(B)); // last sampled token per replica sequence
        for (int step = 0; step < steps; ++step) {
            result.logs[rank].step = step;
            const int Tn = step == 0 ? w.prompt : 1;
            const std::int64_t position = step == 0 ? 0 : w.prompt + step - 1;
            for (int mb = 0; mb < g.microbatches; ++mb) {
                if (options.cancel && options.cancel->load())
                    throw Cancelled("run cancelled");
                if (options.failure.rank == rank && options.failure.step == step && options.failure.microbatch == mb)
                    throw std::runtime_error("injected failure");
                const int first = mb * g.seqs_per_micro;
                std::vector<std::int64_t> tokens;
                for (int b = first; b < first + g.seqs_per_micro; ++b) {
                    if (step == 0)
                        tokens.insert(tokens.end(), prompt.begin() + std::int64_t(first_global + b) * w.prompt,
                                      prompt.begin() + std::int64_t(first_global + b + 1) * w.prompt);
                    else
                        tokens.push_back(current[b]);
                }
                const auto out = model->step(tokens, first, g.seqs_per_micro, position, Tn);
                if (!out)
                    continue;
                for (int b = 0; b < g.seqs_per_micro; ++b)
                    current[first + b] = out->next_tokens[b];
                if (place.tensor == 0) {
                    StepOutput& dst = result.steps[step];
                    for (int b = 0; b < g.seqs_per_micro; ++b) {
                        dst.next_tokens[first_global + first + b] = out->next_tokens[b];
                        std::copy_n(out->hidden.begin() + std::int64_t(b) * m.hidden, m.hidden,
                                    dst.hidden.begin() + std::int64_t(first_global + first + b) * m.hidden);
                    }
                }
            }
            if (auto* feedback = groups.tokens[rank]) {
                std::vector<float> buffer(current.begin(), current.end());
                feedback->broadcast(buffer, 0);
                for (int b = 0; b < B; ++b)
                    current[b] = std::int64_t(buffer[b]);
            }
            result.logs[rank].step_end_us.push_back(result.logs[rank].now_us());
            if (rank == 0 && options.on_step)
                options.on_step(step, steps, result.logs[rank]);
        }
    };

    std::vector<std::thread> threads;
    for (int rank = 0; rank < ranks; ++rank) {
        result.rank_stage[rank] = mesh.stage_of(rank);
        threads.emplace_back([&, rank] {
            try {
                body(rank);
            } catch (const Aborted&) {
                // another rank failed first; its error is the one reported
            } catch (const std::exception& e) {
                {
                    std::lock_guard lock(mutex);
                    if (first_error.empty())
                        first_error = "rank " + std::to_string(rank) + ": " + e.what();
                }
                world.abort(first_error);
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    set_blas_threads(0);
    if (!first_error.empty()) {
        if (first_error.find("run cancelled") != std::string::npos)
            throw Cancelled("run cancelled");
        throw Error(first_error);
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

std::vector<StepOutput> run_reference(const Plan& plan, const ModelWeights& weights, int decode_steps,
                                      const std::atomic<bool>* cancel)
{
    auto stop_if_cancelled = [cancel] {
        if (cancel && cancel->load())
            throw Cancelled("run cancelled");
    };
    const Workload& w = plan.workload;
    const int steps = steps_of(plan, decode_steps);
    ReferenceModel reference(weights, w.batch, w.prompt + steps);
    std::vector<StepOutput> outputs;
    std::vector<std::int64_t> tokens = prompt_tokens(weights.model(), w.batch, w.prompt);
    for (int step = 0; step < steps; ++step) {
        stop_if_cancelled();
        const std::int64_t position = step == 0 ? 0 : w.prompt + step - 1;
        outputs.push_back(reference.step(tokens, position, step == 0 ? w.prompt : 1));
        tokens = outputs.back().next_tokens;
    }
    stop_if_cancelled();
    return outputs;
}

} // namespace shard::cpu
