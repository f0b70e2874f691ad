#include "gpu_mesh.h"

#include "cuda_check.h"
#include "rendezvous_collectives.h"

#include "cost/collective.h"
#include "runtime/grid_layout.h"
#include "cost/device_mesh.h"
#include "cost/hardware_model.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

namespace shard::cuda {

namespace {

// A stage handoff of one microbatch on one tensor offset, recorded once the step finished.
struct Handoff {
    int from_rank = 0, to_rank = 0;
    int microbatch = 0;
    std::int64_t payload = 0; // bytes
};

} // namespace

struct GpuMesh::Impl {
    Plan plan;
    GpuModelOptions options;
    GpuMeshLayout layout;
    ShardGeometry geometry;
    int B = 1; // sequences per replica
    std::vector<int> slot;                        // per world rank: its index in this driver's ranks, or -1
    std::vector<int> local_ranks, local_devices;  // this driver's ranks
    std::vector<cudaStream_t> local_streams;
    std::vector<std::unique_ptr<Stream>> streams; // emulated: one on device 0; else one per local rank
    std::vector<std::unique_ptr<DeviceCollectives>> owned;              // emulated groups
    std::vector<std::vector<std::unique_ptr<DeviceCollectives>>> axes; // NCCL splits
    std::vector<DeviceCollectives*> tensor_comm;   // per group; null with one rank or none here
    std::vector<DeviceCollectives*> pipeline_comm; // per offset in a stage (pp > 1); null: none here
    // Expert parallelism: per group, its expert groups (etp of them, ep members each) and
    // expert-TP groups (ep of them, etp members each; none when etp is 1).
    int ep = 1, etp = 1;
    std::vector<std::vector<DeviceCollectives*>> expert_comm, expert_tp_comm;
    // Experts across replicas (ep > 1 with dp > 1) with one driver for every rank: the
    // expert groups shared by a stage's replicas, whose models then run from a host thread
    // each (a collective needs every member's buffers in one call).
    std::vector<std::unique_ptr<RendezvousGroup>> rendezvous;
    bool replicas_in_threads = false;
    // Grid layouts: per group, per axis of the tensor shape, one per group of the axis.
    std::vector<cpu::GridAxis> grid_axes;
    std::vector<std::vector<std::vector<DeviceCollectives*>>> grid_comm;
    std::vector<std::unique_ptr<GpuModel>> groups; // layout order; null where this driver runs no rank
    std::vector<std::vector<Event>> handoff_events; // per local slot: start, end per microbatch (real GPUs)
    std::vector<Handoff> handoffs;
    std::unique_ptr<Event> start, end; // on the emulated stream
    double wall_ms = 0;
    bool graphs = false;
    double stage_busbw = 0, stage_latency = 0;

    bool local(int rank) const { return slot[std::size_t(rank)] >= 0; }
    int tensor_of(int rank) const { return rank % layout.t; }
    GpuModel* group(int stage, int replica) const { return groups[std::size_t(stage * layout.dp + replica)].get(); }
    GpuModel& group_of_rank(int rank) const
    {
        const int stage = layout.stage_of(rank);
        const int replica = (rank % layout.stage_size()) / layout.t;
        GpuModel* g = group(stage, replica);
        if (!g || !g->owns(tensor_of(rank)))
            throw Error("rank " + std::to_string(rank) + " runs in another thread or process");
        return *g;
    }
    // This driver's buffer of `rank` in group (stage, replica), or null when it runs elsewhere.
    void* activations(int stage, int replica, int tensor) const
    {
        GpuModel* g = group(stage, replica);
        return g && g->owns(tensor) ? g->activations(tensor) : nullptr;
    }
    void* tokens(int stage, int replica, int tensor) const
    {
        GpuModel* g = group(stage, replica);
        return g && g->owns(tensor) ? g->next_tokens(tensor) : nullptr;
    }
    std::int64_t handoff_elements(int seqs, int T) const
    {
        const std::int64_t rows = std::int64_t(seqs) * T;
        const bool sp = (plan.strategy.tensor_mode == TensorMode::MegatronSP || plan.strategy.attention == AttentionMode::Data)
                        && layout.t > 1; // residual rows sharded over the tensor group
        if (!grid_axes.empty()) // a row block's hidden chunk
            return rows / geometry.token_parts * (plan.model.hidden / cpu::GridLayout(plan.strategy, 0).parts());
        return (sp ? rows / layout.t : rows) * plan.model.hidden;
    }
    void build_communicators(const GpuMeshScope* scope);
    void enqueue_replicas_in_threads(const std::vector<std::int64_t>& tokens, int position, int T, bool allow_graph);
    void record_handoffs(bool timed);
};

GpuMesh::GpuMesh(const cpu::ModelWeights& weights, const Plan& plan, const GpuModelOptions& options,
                 const GpuMeshScope* scope)
    : m(std::make_unique<Impl>())
{
    Impl& I = *m;
    I.plan = plan;
    I.options = options;
    const Strategy& s = plan.strategy;
    if (const auto why = gpu_unsupported_reason(weights.model(), s); !why.empty())
        throw Error(why);
    I.layout = gpu_mesh_layout(s);
    I.geometry = shard_geometry(weights.model(), s, plan.workload);
    if (!I.geometry.feasible())
        throw Error("the plan cannot run: " + I.geometry.reject);
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
            if (device_count < ranks)
                throw Error("the plan needs " + std::to_string(ranks) + " GPUs and this machine has "
                            + std::to_string(device_count)
                            + "; run it with --backend cuda-emulated to emulate the ranks on one GPU");
        }
    }
    if (weights.model().is_moe() && s.ep > 1) {
        I.ep = s.ep;
        I.etp = I.geometry.expert_tp;
    }
    if (tensor_rank(s.tensor_mode) > 1)
        I.grid_axes = cpu::grid_axes(s);
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
    go.max_seq_tokens = options.max_seq_tokens > 0 ? options.max_seq_tokens : std::max(1, options.max_rows / options.batch);
    go.microbatches = I.geometry.microbatches;
    const auto epoch = scope ? scope->epoch : RankLog::Clock::now();
    I.groups.resize(I.layout.groups.size());
    for (std::size_t g = 0; g < I.layout.groups.size(); ++g) {
        const GpuMeshGroup& mg = I.layout.groups[g];
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

void GpuMesh::Impl::build_communicators(const GpuMeshScope* scope)
{
    const int t = layout.t;
    const int groups_count = int(layout.groups.size());
    tensor_comm.assign(std::size_t(groups_count), nullptr);
    pipeline_comm.assign(std::size_t(layout.pp > 1 ? layout.stage_size() : 0), nullptr);
    const bool experts = ep > 1;
    // Expert groups live in a stage: EP group c joins the stage offsets (replica * t + index)
    // equal to c modulo etp, and expert-TP group s the etp offsets from s * etp (inside one
    // replica, as etp divides t). Each replica's model sees its t / etp expert-TP groups.
    const int dp = layout.dp;
    const int shards_per_replica = experts ? t / etp : 0;
    const int shards_per_stage = shards_per_replica * dp;
    expert_comm.assign(std::size_t(groups_count), std::vector<DeviceCollectives*>(std::size_t(experts ? etp : 0), nullptr));
    expert_tp_comm.assign(std::size_t(groups_count),
                          std::vector<DeviceCollectives*>(std::size_t(experts && etp > 1 ? shards_per_replica : 0), nullptr));
    // A stage's EP group c, shared by its replicas (views through a rendezvous when one
    // driver runs several of them).
    auto share_expert_group = [&](int stage, int c, DeviceCollectives* group) {
        if (dp == 1 || scope) { // one replica, or this driver runs one rank of the group
            for (int replica = 0; replica < dp; ++replica)
                expert_comm[std::size_t(stage * dp + replica)][std::size_t(c)] = group;
            return;
        }
        rendezvous.push_back(std::make_unique<RendezvousGroup>(*group, std::vector<int>(std::size_t(dp), ep / dp)));
        replicas_in_threads = true;
        for (int replica = 0; replica < dp; ++replica)
            expert_comm[std::size_t(stage * dp + replica)][std::size_t(c)] = rendezvous.back()->view(replica);
    };
    grid_comm.assign(std::size_t(groups_count), {});
    for (auto& axes_of_group : grid_comm)
        for (const cpu::GridAxis& a : grid_axes)
            axes_of_group.emplace_back(std::size_t(t / a.size), nullptr);
    if (options.emulated) {
        const cudaStream_t stream = streams[0]->get();
        for (auto& axes_of_group : grid_comm)
            for (std::size_t a = 0; a < grid_axes.size(); ++a)
                for (auto& group : axes_of_group[a]) {
                    owned.push_back(make_emulated_collectives(0, stream, grid_axes[a].size));
                    group = owned.back().get();
                }
        for (int g = 0; g < groups_count; ++g) {
            if (t > 1) {
                owned.push_back(make_emulated_collectives(0, stream, t));
                tensor_comm[std::size_t(g)] = owned.back().get();
            }
            for (auto& group : expert_tp_comm[std::size_t(g)]) {
                owned.push_back(make_emulated_collectives(0, stream, etp));
                group = owned.back().get();
            }
        }
        for (int stage = 0; experts && stage < layout.pp; ++stage)
            for (int c = 0; c < etp; ++c) {
                owned.push_back(make_emulated_collectives(0, stream, ep));
                share_expert_group(stage, c, owned.back().get());
            }
        for (auto& chain : pipeline_comm) {
            owned.push_back(make_emulated_collectives(0, stream, layout.pp));
            chain = owned.back().get();
        }
        return;
    }
    // One NCCL world over every rank's GPU, split per mesh axis.
    std::vector<std::vector<int>> colors;
    if (t > 1)
        colors.push_back(layout.tensor_color);
    if (layout.pp > 1)
        colors.push_back(layout.pipeline_color);
    if (experts) { // per stage: the offset modulo etp picks the EP group, offset / etp the expert-TP one
        std::vector<int> by_slice(std::size_t(layout.ranks()), -1), by_shard(std::size_t(layout.ranks()), -1);
        for (int g = 0; g < groups_count; ++g)
            for (int i = 0; i < t; ++i) {
                const GpuMeshGroup& mg = layout.groups[std::size_t(g)];
                const int r = mg.ranks[std::size_t(i)];
                const int offset = mg.replica * t + i;
                by_slice[std::size_t(r)] = mg.stage * etp + offset % etp;
                if (etp > 1)
                    by_shard[std::size_t(r)] = mg.stage * shards_per_stage + offset / etp;
            }
        colors.push_back(by_slice);
        colors.push_back(by_shard);
    }
    // Grid axes: world rank r (index i of group g) joins group grid_group_of(axis, i) of g.
    const std::size_t first_grid_axis = colors.size();
    for (const cpu::GridAxis& a : grid_axes) {
        std::vector<int> by_axis(std::size_t(layout.ranks()), -1);
        for (int g = 0; g < groups_count; ++g)
            for (int i = 0; i < t; ++i)
                by_axis[std::size_t(layout.groups[std::size_t(g)].ranks[std::size_t(i)])] = g * (t / a.size)
                                                                                             + cpu::grid_group_of(a, i);
        colors.push_back(by_axis);
    }
    if (colors.empty())
        return;
    axes = make_nccl_axes(local_devices, local_streams, colors, scope ? &scope->join : nullptr);
    std::size_t axis = 0;
    if (t > 1) {
        for (int g = 0; g < groups_count; ++g)
            tensor_comm[std::size_t(g)] = axes[axis][std::size_t(g)].get();
        ++axis;
    }
    if (layout.pp > 1) {
        for (std::size_t offset = 0; offset < pipeline_comm.size(); ++offset)
            pipeline_comm[offset] = axes[axis][offset].get();
        ++axis;
    }
    if (experts) {
        for (int stage = 0; stage < layout.pp; ++stage)
            for (int c = 0; c < etp; ++c)
                if (DeviceCollectives* group = axes[axis][std::size_t(stage * etp + c)].get())
                    share_expert_group(stage, c, group);
        for (int g = 0; g < groups_count; ++g) {
            const GpuMeshGroup& mg = layout.groups[std::size_t(g)];
            for (int s = 0; etp > 1 && s < shards_per_replica; ++s)
                expert_tp_comm[std::size_t(g)][std::size_t(s)] =
                    axes[axis + 1][std::size_t(mg.stage * shards_per_stage + mg.replica * shards_per_replica + s)].get();
        }
    }
    for (std::size_t a = 0; a < grid_axes.size(); ++a) {
        const int per_group = t / grid_axes[a].size;
        for (int g = 0; g < groups_count; ++g)
            for (int c = 0; c < per_group; ++c)
                grid_comm[std::size_t(g)][a][std::size_t(c)] = axes[first_grid_axis + a][std::size_t(g * per_group + c)].get();
    }
}

const GpuMeshLayout& GpuMesh::layout() const
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

cpu::StepOutput GpuMesh::step(const std::vector<std::int64_t>& tokens, int position, int T, bool timed)
{
    Impl& I = *m;
    const GpuMeshLayout& L = I.layout;
    const int mbs = I.geometry.microbatches;
    const int spm = I.geometry.seqs_per_micro;
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
    const bool allow_graph = L.pp == 1 && mbs == 1;
    const std::int64_t e = std::int64_t(element_size(I.options.dtype));
    const std::int64_t elements = I.handoff_elements(spm, T);
    if (I.replicas_in_threads) {
        // Experts shared across the replicas: each replica's model runs from its own thread
        // and they meet in the expert groups' collectives (one stage, one microbatch).
        I.enqueue_replicas_in_threads(tokens, position, T, allow_graph);
    }
    for (int mb = 0; mb < mbs && !I.replicas_in_threads; ++mb) {
        for (int stage = 0; stage < L.pp; ++stage) {
            for (int replica = 0; replica < L.dp; ++replica) {
                if (GpuModel* G = I.group(stage, replica)) {
                    std::vector<std::int64_t> slice;
                    if (stage == 0 && !tokens.empty()) {
                        const auto first = tokens.begin() + (std::int64_t(replica) * I.B + std::int64_t(mb) * spm) * T;
                        slice.assign(first, first + std::int64_t(spm) * T);
                    }
                    G->enqueue(slice, mb * spm, spm, position, T, allow_graph);
                }
                if (stage + 1 == L.pp)
                    continue;
                for (int i = 0; i < L.t; ++i) {
                    const int from = L.rank(stage, replica, i), to = L.rank(stage + 1, replica, i);
                    if (!I.local(from) && !I.local(to))
                        continue;
                    const int from_slot = I.slot[std::size_t(from)];
                    const bool time_it = timed && !I.options.emulated && from_slot >= 0;
                    if (time_it)
                        I.handoff_events[std::size_t(from_slot)][std::size_t(2 * mb)].record(I.local_streams[std::size_t(from_slot)]);
                    I.pipeline_comm[std::size_t(replica * L.t + i)]->send_recv(
                        stage, I.activations(stage, replica, i), stage + 1, I.activations(stage + 1, replica, i), elements,
                        I.options.dtype);
                    if (time_it)
                        I.handoff_events[std::size_t(from_slot)][std::size_t(2 * mb + 1)].record(
                            I.local_streams[std::size_t(from_slot)]);
                    I.handoffs.push_back({from, to, mb, elements * e});
                }
            }
        }
    }
    // Token feedback: every rank of the last stage holds the picked tokens; rank i of the
    // first stage gets them from rank i of the last (control traffic, not priced).
    if (L.pp > 1) {
        for (int replica = 0; replica < L.dp; ++replica)
            for (int i = 0; i < L.t; ++i) {
                if (!I.local(L.rank(L.pp - 1, replica, i)) && !I.local(L.rank(0, replica, i)))
                    continue;
                I.pipeline_comm[std::size_t(replica * L.t + i)]->send_recv(
                    L.pp - 1, I.tokens(L.pp - 1, replica, i), 0, I.tokens(0, replica, i), I.B, GpuDType::F32);
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

    cpu::StepOutput out;
    out.hidden.assign(std::size_t(L.dp * I.B * h), 0.0f);
    out.next_tokens.assign(std::size_t(L.dp * I.B), 0);
    for (const int replica : outputs()) {
        const cpu::StepOutput part = I.group(L.pp - 1, replica)->output(I.B);
        std::copy(part.hidden.begin(), part.hidden.end(), out.hidden.begin() + std::int64_t(replica) * I.B * h);
        std::copy(part.next_tokens.begin(), part.next_tokens.end(), out.next_tokens.begin() + std::int64_t(replica) * I.B);
    }
    return out;
}

void GpuMesh::Impl::enqueue_replicas_in_threads(const std::vector<std::int64_t>& tokens, int position, int T,
                                                 bool allow_graph)
{
    if (layout.pp != 1 || geometry.microbatches != 1)
        throw Error("experts shared across replicas run without pipeline stages");
    std::mutex mutex;
    std::exception_ptr first_error;
    std::vector<std::thread> threads;
    for (int replica = 0; replica < layout.dp; ++replica) {
        GpuModel* G = group(0, replica);
        if (!G)
            continue;
        std::vector<std::int64_t> slice;
        if (!tokens.empty())
            slice.assign(tokens.begin() + std::int64_t(replica) * B * T, tokens.begin() + std::int64_t(replica + 1) * B * T);
        threads.emplace_back([&, G, replica, slice = std::move(slice)] {
            try {
                G->enqueue(slice, 0, B, position, T, allow_graph);
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
                                           stage_latency) / 1e6;
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
