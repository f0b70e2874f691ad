#include "engine_support.h"
#include "gpu_mesh_impl.h"

#include "cost/collective.h"
#include "cost/device_mesh.h"
#include "cost/hardware_model.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

namespace shard::cuda {

GpuMesh::GpuMesh(const run::ModelWeights& weights, const Plan& plan, const GpuModelOptions& options,
                 const GpuMeshScope* scope)
    : m(std::make_unique<Impl>())
{
    Impl& I = *m;
    I.plan = plan;
    I.options = options;
    const Strategy& s = plan.strategy;
    I.layout = run::mesh_layout(s);
    I.geometry = runnable_geometry(weights.model(), s, plan.workload);
    if (options.batch != plan.workload.batch)
        throw Error("the engine was sized for " + std::to_string(options.batch) + " sequences, the plan has "
                    + std::to_string(plan.workload.batch));
    I.B = I.geometry.batch_per_replica;
    const int spm = I.geometry.seqs_per_micro;
    const int t = I.layout.t;
    if ((s.tensor_mode == TensorMode::MegatronSP || s.attention == AttentionMode::Data) && t > 1 && spm % t != 0)
        throw Error("sequence sharding needs each microbatch's decode rows (" + std::to_string(spm)
                    + " sequences) to divide by the tensor group (" + std::to_string(t) + ")");
    const int ranks = I.layout.ranks();
    if (scope && options.emulated)
        throw Error("emulated ranks all run in one driver");
    if (scope) {
        I.local_ranks = scope->ranks;
        I.local_devices = scope->devices;
    } else {
        for (int r = 0; r < ranks; ++r) {
            I.local_ranks.push_back(r);
            I.local_devices.push_back(options.emulated ? 0 : r);
        }
        if (!options.emulated) {
            int device_count = 0;
            SHARD_CUDA_CHECK(cudaGetDeviceCount(&device_count));
            require_local_gpus(ranks, device_count);
        }
    }
    if (weights.model().is_moe() && s.ep > 1) {
        I.ep = s.ep;
        I.etp = I.geometry.expert_tp;
    }
    if (tensor_rank(s.tensor_mode) > 1)
        I.grid_axes = run::grid_axes(s);
    I.slot.assign(std::size_t(ranks), -1);
    for (std::size_t i = 0; i < I.local_ranks.size(); ++i)
        I.slot.at(std::size_t(I.local_ranks[i])) = int(i);
    for (std::size_t i = 0; i < (options.emulated ? 1 : I.local_ranks.size()); ++i)
        I.streams.push_back(std::make_unique<Stream>(I.local_devices[i]));
    for (std::size_t i = 0; i < I.local_ranks.size(); ++i)
        I.local_streams.push_back(I.streams[options.emulated ? 0 : i]->get());
    I.build_communicators(scope);

    GpuModelOptions go = options;
    go.batch = I.B;
    go.max_rows = options.max_rows / options.batch * I.B;
    go.max_seq_tokens =
        options.max_seq_tokens > 0 ? options.max_seq_tokens : std::max(1, options.max_rows / options.batch);
    go.microbatches = I.geometry.microbatches;
    const auto epoch = scope ? scope->epoch : RankLog::Clock::now();
    I.groups.resize(I.layout.groups.size());
    for (std::size_t g = 0; g < I.layout.groups.size(); ++g) {
        const run::MeshGroup& mg = I.layout.groups[g];
        GpuGroupPlace place;
        place.stage = mg.stage;
        place.replica = mg.replica;
        for (int i = 0; i < t; ++i) {
            const int r = mg.ranks[std::size_t(i)];
            if (!I.local(r))
                continue;
            place.tensor_ranks.push_back(i);
            place.devices.push_back(I.local_devices[std::size_t(I.slot[std::size_t(r)])]);
            place.streams.push_back(I.local_streams[std::size_t(I.slot[std::size_t(r)])]);
        }
        if (place.tensor_ranks.empty())
            continue;
        place.tensor = I.tensor_comm[g];
        place.expert_groups = I.expert_comm[g];
        place.expert_tp_groups = I.expert_tp_comm[g];
        place.grid_groups = I.grid_comm[g];
        I.groups[g] = std::make_unique<GpuModel>(weights, plan, go, &place);
        I.groups[g]->set_epoch(epoch);
    }
    if (!options.emulated && I.layout.pp > 1) {
        I.handoff_events.resize(I.local_ranks.size());
        for (std::size_t i = 0; i < I.local_ranks.size(); ++i)
            for (int e = 0; e < 2 * I.geometry.microbatches; ++e)
                I.handoff_events[i].emplace_back(I.local_devices[i]);
    }
    if (options.emulated) {
        I.start = std::make_unique<Event>(0);
        I.end = std::make_unique<Event>(0);
    }
    const DeviceMesh mesh(s, plan.topology);
    const GroupLink link = mesh.stage_link();
    I.stage_busbw = link.busbw_gbps;
    I.stage_latency = link.latency_us;
}

GpuMesh::~GpuMesh() = default;

const run::MeshLayout& GpuMesh::layout() const
{
    return m->layout;
}

int GpuMesh::ranks() const
{
    return m->layout.ranks();
}

bool GpuMesh::owns(int rank) const
{
    return m->local(rank);
}

const RankLog& GpuMesh::log(int rank) const
{
    return m->group_of_rank(rank).log(m->tensor_of(rank));
}

double GpuMesh::last_step_gpu_ms() const
{
    if (m->options.emulated)
        return m->groups.size() == 1 ? m->groups.front()->last_step_gpu_ms() : double(m->end->ms_since(*m->start));
    if (m->groups.size() == 1 && m->local_ranks.size() == std::size_t(m->layout.ranks()))
        return m->groups.front()->last_step_gpu_ms();
    return m->wall_ms;
}

bool GpuMesh::last_step_replayed_graphs() const
{
    return m->graphs;
}

std::vector<int> GpuMesh::outputs() const
{
    std::vector<int> replicas;
    for (int replica = 0; replica < m->layout.dp; ++replica)
        if (m->local(m->layout.rank(m->layout.pp - 1, replica, 0)))
            replicas.push_back(replica);
    return replicas;
}

std::size_t GpuMesh::weight_bytes(int rank) const
{
    return m->group_of_rank(rank).weight_bytes(m->tensor_of(rank));
}

std::size_t GpuMesh::workspace_bytes(int rank) const
{
    return m->group_of_rank(rank).workspace_bytes(m->tensor_of(rank));
}

run::StepOutput GpuMesh::step(const std::vector<std::int64_t>& tokens, int position, int T, bool timed)
{
    Impl& I = *m;
    const run::MeshLayout& L = I.layout;
    const int mbs = I.geometry.microbatches;
    const std::int64_t h = I.plan.model.hidden;
    if (!tokens.empty() && std::int64_t(tokens.size()) != std::int64_t(L.dp) * I.B * T)
        throw Error("a step of " + std::to_string(L.dp * I.B) + " x " + std::to_string(T) + " tokens got "
                    + std::to_string(tokens.size()));
    const auto wall_start = std::chrono::steady_clock::now();
    if (I.options.emulated)
        I.start->record(I.streams[0]->get());
    for (auto& g : I.groups)
        if (g)
            g->begin_step(timed);
    I.handoffs.clear();
    if (I.replicas_in_threads) {
        // Experts shared across the replicas: each replica's stages and microbatches run
        // from a thread of its own, meeting the other replicas in the expert groups'
        // collectives (every replica calls them in the same order).
        I.enqueue_replicas_in_threads(tokens, position, T, timed);
    } else {
        for (int mb = 0; mb < mbs; ++mb)
            for (int stage = 0; stage < L.pp; ++stage)
                for (int replica = 0; replica < L.dp; ++replica)
                    I.enqueue_microbatch(tokens, mb, stage, replica, position, T, timed);
    }
    // Token feedback: every rank of the last stage holds the picked tokens; rank i of the
    // first stage gets them from rank i of the last (control traffic, not priced).
    if (L.pp > 1) {
        for (int replica = 0; replica < L.dp; ++replica)
            for (int i = 0; i < L.t; ++i) {
                if (!I.local(L.rank(L.pp - 1, replica, i)) && !I.local(L.rank(0, replica, i)))
                    continue;
                I.pipeline_comm[std::size_t(replica * L.t + i)]->send_recv(L.pp - 1, I.tokens(L.pp - 1, replica, i), 0,
                                                                           I.tokens(0, replica, i), I.B, GpuDType::F32);
            }
    }
    if (I.options.emulated)
        I.end->record(I.streams[0]->get());
    for (auto* chain : I.pipeline_comm)
        if (chain)
            chain->synchronize(I.options.timeout_s);
    I.record_handoffs(timed);
    I.graphs = true;
    for (auto& g : I.groups) {
        if (!g)
            continue;
        g->end_step();
        I.graphs = I.graphs && g->graph_replayed();
    }
    I.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall_start).count();

    run::StepOutput out;
    out.hidden.assign(std::size_t(L.dp * I.B * h), 0.0f);
    out.next_tokens.assign(std::size_t(L.dp * I.B), 0);
    for (const int replica : outputs()) {
        const run::StepOutput part = I.group(L.pp - 1, replica)->output(I.B);
        std::copy(part.hidden.begin(), part.hidden.end(), out.hidden.begin() + std::int64_t(replica) * I.B * h);
        std::copy(part.next_tokens.begin(), part.next_tokens.end(),
                  out.next_tokens.begin() + std::int64_t(replica) * I.B);
    }
    return out;
}

void GpuMesh::Impl::enqueue_microbatch(const std::vector<std::int64_t>& tokens, int mb, int stage, int replica,
                                       int position, int T, bool timed)
{
    const int spm = geometry.seqs_per_micro;
    const run::MeshLayout& L = layout;
    if (GpuModel* G = group(stage, replica)) {
        std::vector<std::int64_t> slice;
        if (stage == 0 && !tokens.empty()) {
            const auto first = tokens.begin() + (std::int64_t(replica) * B + std::int64_t(mb) * spm) * T;
            slice.assign(first, first + std::int64_t(spm) * T);
        }
        G->enqueue(slice, mb * spm, spm, position, T, L.pp == 1 && geometry.microbatches == 1);
    }
    if (stage + 1 == L.pp)
        return;
    const std::int64_t e = std::int64_t(element_size(options.dtype));
    const std::int64_t elements = handoff_elements(spm, T);
    for (int i = 0; i < L.t; ++i) {
        const int from = L.rank(stage, replica, i), to = L.rank(stage + 1, replica, i);
        if (!local(from) && !local(to))
            continue;
        const int from_slot = slot[std::size_t(from)];
        const bool time_it = timed && !options.emulated && from_slot >= 0;
        if (time_it)
            handoff_events[std::size_t(from_slot)][std::size_t(2 * mb)].record(local_streams[std::size_t(from_slot)]);
        pipeline_comm[std::size_t(replica * L.t + i)]->send_recv(stage, activations(stage, replica, i), stage + 1,
                                                                 activations(stage + 1, replica, i), elements,
                                                                 options.dtype);
        if (time_it)
            handoff_events[std::size_t(from_slot)][std::size_t(2 * mb + 1)].record(
                local_streams[std::size_t(from_slot)]);
        std::lock_guard lock(handoffs_mutex); // replicas may run in threads of their own
        handoffs.push_back({from, to, mb, elements * e});
    }
}

void GpuMesh::Impl::enqueue_replicas_in_threads(const std::vector<std::int64_t>& tokens, int position, int T,
                                                bool timed)
{
    std::mutex mutex;
    std::exception_ptr first_error;
    std::vector<std::thread> threads;
    for (int replica = 0; replica < layout.dp; ++replica) {
        threads.emplace_back([&, replica] {
            try {
                for (int mb = 0; mb < geometry.microbatches; ++mb)
                    for (int stage = 0; stage < layout.pp; ++stage)
                        enqueue_microbatch(tokens, mb, stage, replica, position, T, timed);
            } catch (...) {
                {
                    std::lock_guard lock(mutex);
                    if (!first_error) // the others then fail for want of this replica
                        first_error = std::current_exception();
                }
                for (auto& shared : rendezvous)
                    shared->abort("replica " + std::to_string(replica) + " of the shared expert groups failed");
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    if (first_error)
        std::rethrow_exception(first_error);
}

void GpuMesh::Impl::record_handoffs(bool timed)
{
    const bool modeled = options.emulated;
    for (const Handoff& h : handoffs) {
        CollectiveRecord c;
        c.kind = CollectiveKind::SendRecv;
        c.group = "pp";
        c.group_size = 2;
        c.payload = h.payload;
        c.modeled = modeled;
        const int from_slot = slot[std::size_t(h.from_rank)];
        if (modeled) {
            c.seconds = collective_time_us(double(h.payload), bus_factor(CollectiveKind::SendRecv, 2), stage_busbw,
                                           stage_latency)
                        / 1e6;
        } else if (timed && from_slot >= 0) {
            // Timed on the sender's stream; a receiver run elsewhere records no time.
            const auto& events = handoff_events[std::size_t(from_slot)];
            const Event& begin = events[std::size_t(2 * h.microbatch)];
            c.seconds = events[std::size_t(2 * h.microbatch + 1)].ms_since(begin) / 1e3;
            GpuModel& sender = group_of_rank(h.from_rank);
            if (const Event* origin = sender.timing_origin(tensor_of(h.from_rank)))
                c.start_us = sender.timing_origin_us() + begin.ms_since(*origin) * 1e3;
        }
        if (local(h.from_rank)) {
            RankLog& from = group_of_rank(h.from_rank).mutable_log(tensor_of(h.from_rank));
            c.step = from.step;
            c.sent = h.payload;
            c.received = 0;
            from.records.push_back(c);
        }
        if (local(h.to_rank)) {
            RankLog& to = group_of_rank(h.to_rank).mutable_log(tensor_of(h.to_rank));
            c.step = to.step;
            c.sent = 0;
            c.received = h.payload;
            to.records.push_back(c);
        }
    }
}

} // namespace shard::cuda
