#include "gpu_model_impl.h"

#include "engine_support.h"

#include "gpu_blas.h"
#include "kernels.h"

#include "cost/device_mesh.h"
#include "cost/hardware_model.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace shard::cuda {

static_assert(kernels::kMaxTopK == kEngineMaxTopK, "the routing kernel and the engine's stated limit must agree");

GpuModel::Impl::Impl(const run::ModelWeights& w, const Plan& p, const GpuModelOptions& o, const GpuGroupPlace* place)
    : weights(w)
    , model(w.model())
    , plan(p)
    , options(o)
{
    geometry = runnable_geometry(model, plan.strategy, plan.workload);
    t = plan.strategy.tensor_size();
    column = plan.strategy.tensor_mode == TensorMode::Column1D && t > 1;
    row = plan.strategy.tensor_mode == TensorMode::Row1D && t > 1;
    data = plan.strategy.attention == AttentionMode::Data && t > 1;
    grid = tensor_rank(plan.strategy.tensor_mode) > 1;
    token_parts = geometry.token_parts;
    if (grid) {
        grid_axes = run::grid_axes(plan.strategy);
        grid_cw = model.hidden / run::GridLayout(plan.strategy, 0).parts();
        if (!place)
            throw Error("a 2D / 2.5D / 3D plan runs on a GpuMesh, which lends it the groups of its grid");
    }
    if (t > 1 && !row && !data && !grid && geometry.head_parts != t)
        throw Error("the CUDA engine needs the attention heads split " + std::to_string(t) + " ways");
    sp = (plan.strategy.tensor_mode == TensorMode::MegatronSP || data) && t > 1;
    aw = std::int64_t(model.heads) * model.head_dim;
    if ((column || row) && (model.hidden % t != 0 || aw % t != 0 || model.ffn % t != 0))
        throw Error("the column / row layouts need the hidden size, the attention width and the ffn to divide by "
                    + std::to_string(t));
    const Strategy& s = plan.strategy;
    if (!place && (s.pp > 1 || s.dp > 1))
        throw Error("a plan with pipeline stages or data-parallel replicas runs on a GpuMesh, not one GpuModel");
    std::vector<int> owned_ranks;
    for (int r = 0; r < t; ++r)
        owned_ranks.push_back(r);
    if (place) {
        stage = place->stage;
        replica = place->replica;
        if (!place->tensor_ranks.empty())
            owned_ranks = place->tensor_ranks;
        const std::size_t n = owned_ranks.size();
        if (place->devices.size() != n || place->streams.size() != n || (t > 1 && !place->tensor))
            throw Error("a driver of " + std::to_string(n) + " of a tensor group's " + std::to_string(t) + " ranks got "
                        + std::to_string(place->devices.size()) + " devices and "
                        + std::to_string(place->streams.size()) + " streams");
    }
    const auto split = s.resolved_stage_layers(model.layers);
    for (int i = 0; i < stage; ++i)
        first_layer += split[std::size_t(i)];
    layer_count = split.at(std::size_t(stage));
    first_stage = stage == 0;
    last_stage = stage == s.pp - 1;
    check_ranks = std::getenv("SHARD_CHECK_RANKS") != nullptr;
    heads = geometry.heads_local;
    kv_heads = geometry.kv_heads_local;
    qw = std::int64_t(heads) * model.head_dim;
    kw = std::int64_t(kv_heads) * model.head_dim;
    W = qw + 2 * kw;
    fl = row ? model.ffn : model.ffn / t; // row: every rank computes the whole up-projection
    fd = row ? model.ffn / t : fl;
    if (model.is_moe()) {
        if (s.ep > 1) { // experts in ep shards, each split over etp ranks; shared experts whole
            ep = s.ep;
            etp = geometry.expert_tp;
            experts_local = geometry.experts_local;
        }
        efl = model.moe->expert_ffn / (ep > 1 ? etp : t);
        sfl = model.moe->shared_expert_ffn * model.moe->shared_experts / (ep > 1 ? 1 : t);
    }
    vl = geometry.vocab_padded / t;
    if (sp && options.max_rows % t != 0)
        throw Error(std::string(data ? "attention data parallelism" : "sequence parallelism")
                    + " needs the tokens of a step (" + std::to_string(options.max_rows)
                    + ") to divide by the tensor group (" + std::to_string(t) + ")");

    if (!place) {
        int device_count = 0;
        SHARD_CUDA_CHECK(cudaGetDeviceCount(&device_count));
        if (!options.emulated)
            require_local_gpus(t, device_count);
        const int stream_count = options.emulated ? 1 : t;
        for (int i = 0; i < stream_count; ++i)
            streams.push_back(std::make_unique<Stream>(options.emulated ? 0 : i));
    }
    ranks.resize(owned_ranks.size());
    // An origin event, then a start and an end per op and collective of every microbatch
    // (SUMMA: a GEMM and two broadcasts per block step of each of the four linears).
    const int per_layer = grid ? 24 + 12 * plan.strategy.tensor_shape.back() : 20;
    const int events_per_step = 1 + 2 * (16 + layer_count * per_layer) * std::max(1, options.microbatches);
    for (int slot = 0; slot < int(ranks.size()); ++slot) {
        GpuRank& R = ranks[std::size_t(slot)];
        const int r = owned_ranks[std::size_t(slot)];
        R.index = r;
        R.slot = slot;
        R.device = place ? place->devices[std::size_t(slot)] : options.emulated ? 0 : r;
        R.stream = place ? place->streams[std::size_t(slot)] : streams[options.emulated ? 0 : std::size_t(r)]->get();
        // One cuBLAS handle (and workspace) per stream: emulated ranks take turns on one.
        const bool share = slot > 0 && R.stream == ranks[0].stream && !std::getenv("SHARD_BLAS_PER_RANK");
        R.blas = share ? ranks[0].blas : std::make_shared<BlasHandle>(R.device, R.stream);
        for (int e = 0; e < events_per_step; ++e)
            R.events.emplace_back(R.device);
        if (ep > 1) // the EP peers' row counts, read on the host to size the all-to-alls
            R.host_counts = PinnedMemory(std::size_t(model.moe->experts) * sizeof(int));
        if (grid)
            R.grid.emplace(plan.strategy, r);
        load_weights(R);
        Arena measure;
        bind_workspace(R, measure);
        R.work_block =
            DeviceMemory(measure.used(), R.device, "rank " + std::to_string(r) + " (workspace and KV cache)");
        Arena arena(R.work_block.data(), R.work_block.bytes());
        bind_workspace(R, arena);
        DeviceGuard guard(R.device);
        SHARD_CUDA_CHECK(cudaMemsetAsync(R.work_block.data(), 0, R.work_block.bytes(), R.stream));
        if (!share)
            SHARD_CUBLAS_CHECK(cublasSetWorkspace(R.blas->get(), R.blas_ws, 32u << 20));
    }
    std::vector<cudaStream_t> rank_streams;
    std::vector<int> devices;
    for (const auto& R : ranks) {
        rank_streams.push_back(R.stream);
        devices.push_back(R.device);
    }
    if (place) {
        comm = place->tensor;
        expert_groups = place->expert_groups;
        expert_tp_groups = place->expert_tp_groups;
        grid_groups = place->grid_groups;
        if (grid && grid_groups.size() != grid_axes.size())
            throw Error("a grid group got communicators for " + std::to_string(grid_groups.size()) + " of its "
                        + std::to_string(grid_axes.size()) + " axes");
    } else if (t > 1) {
        // The tensor group, and with EP its expert groups (index % etp) and expert-TP groups
        // (index / etp).
        std::vector<std::vector<int>> colors{std::vector<int>(std::size_t(t), 0)};
        if (ep > 1) {
            colors.emplace_back();
            colors.emplace_back();
            for (int i = 0; i < t; ++i) {
                colors[1].push_back(i % etp);
                colors[2].push_back(etp > 1 ? i / etp : -1);
            }
        }
        if (options.emulated) {
            owned_comm = make_emulated_collectives(0, streams[0]->get(), t);
            for (int c = 0; ep > 1 && c < etp; ++c)
                owned_expert_comms.push_back(make_emulated_collectives(0, streams[0]->get(), ep));
            for (int e = 0; ep > 1 && etp > 1 && e < ep; ++e)
                owned_expert_comms.push_back(make_emulated_collectives(0, streams[0]->get(), etp));
        } else {
            auto axes = make_nccl_axes(devices, rank_streams, colors);
            owned_comm = std::move(axes[0][0]);
            for (std::size_t a = 1; a < axes.size(); ++a)
                for (auto& g : axes[a])
                    owned_expert_comms.push_back(std::move(g));
        }
        comm = owned_comm.get();
        for (std::size_t i = 0; i < owned_expert_comms.size(); ++i)
            (int(i) < (ep > 1 ? etp : 0) ? expert_groups : expert_tp_groups).push_back(owned_expert_comms[i].get());
    }
    // Overlap moves the tensor group's collectives to streams of their own; the expert
    // groups' all-to-alls stay in stream order, so EP layers run without it.
    overlap = options.overlap && t > 1 && ep == 1;
    if (overlap) {
        // Emulated ranks share one compute stream, so they share one communication stream.
        const bool shared =
            std::all_of(ranks.begin(), ranks.end(), [&](const GpuRank& R) { return R.stream == ranks[0].stream; });
        std::vector<cudaStream_t> comm_of_rank;
        for (auto& R : ranks) {
            if (!shared || comm_streams.empty())
                comm_streams.push_back(std::make_unique<Stream>(R.device));
            R.comm_stream = comm_streams.back()->get();
            R.fork = std::make_unique<Event>(R.device, false);
            R.join = std::make_unique<Event>(R.device, false);
            R.chunk_ready = std::make_unique<Event>(R.device, false);
            comm_of_rank.push_back(R.comm_stream);
        }
        comm->set_streams(comm_of_rank);
        // Each grid group takes the communication streams of its members here, in order.
        for (std::size_t a = 0; a < grid_groups.size(); ++a)
            for (std::size_t g = 0; g < grid_groups[a].size(); ++g) {
                if (!grid_groups[a][g])
                    continue;
                std::vector<cudaStream_t> group_streams;
                for (auto& R : ranks)
                    if (run::grid_group_of(grid_axes[a], R.index) == int(g))
                        group_streams.push_back(R.comm_stream);
                if (grid_groups[a][g]->emulated())
                    group_streams.resize(1);
                grid_groups[a][g]->set_streams(group_streams);
            }
        for (auto& R : ranks)
            for (int b = 0; grid && b < 2; ++b) {
                R.block_ready[b] = std::make_unique<Event>(R.device, false);
                R.block_used[b] = std::make_unique<Event>(R.device, false);
            }
    }
    host_hidden = PinnedMemory(std::size_t(options.batch) * model.hidden * sizeof(float));
    host_tokens = PinnedMemory(std::size_t(options.batch) * sizeof(int));
    host_ids = PinnedMemory(
        std::size_t(std::max<std::int64_t>(options.max_rows, std::int64_t(options.batch) * max_seq_tokens()))
        * sizeof(int));
    step_start = std::make_unique<Event>(ranks[0].device);
    step_end = std::make_unique<Event>(ranks[0].device);
    device_mesh.emplace(plan.strategy, plan.topology);
    for (auto& R : ranks)
        R.log.epoch = ranks[0].log.epoch;
}

double GpuModel::Impl::modeled_seconds(CollectiveKind kind, std::int64_t payload, int group_size, int stride) const
{
    const GroupLink link = device_mesh->group(group_size, stride, 0);
    if (link.busbw_gbps <= 0)
        return 0; // a group of one moves nothing
    return collective_time_us(double(payload), bus_factor(kind, group_size), link.busbw_gbps, link.latency_us) / 1e6;
}

void GpuModel::Impl::fork_to_comm()
{
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        R.fork->record(R.stream);
        SHARD_CUDA_CHECK(cudaStreamWaitEvent(R.comm_stream, R.fork->get(), 0));
    }
}

void GpuModel::Impl::join_from_comm()
{
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        R.join->record(R.comm_stream);
        SHARD_CUDA_CHECK(cudaStreamWaitEvent(R.stream, R.join->get(), 0));
    }
}

void GpuModel::Impl::collective(CollectiveKind kind, std::int64_t payload, const std::string& name,
                                const std::function<void()>& run, const char* group, int group_size, bool control,
                                bool fork, int stride)
{
    const bool measure = timed && !options.emulated; // emulated transfers are modeled
    // With overlap the communicator lives on the communication streams: the call waits for
    // the compute before it and the compute after it waits for the call.
    if (overlap && fork)
        fork_to_comm();
    std::vector<std::size_t> starts;
    if (measure)
        for (auto& R : ranks) {
            starts.push_back(R.next_event++);
            R.events.at(starts.back()).record(overlap ? R.comm_stream : R.stream);
        }
    run();
    if (measure)
        for (auto& R : ranks) {
            const std::size_t end = R.next_event++;
            R.events.at(end).record(overlap ? R.comm_stream : R.stream);
            R.pending_collectives.emplace_back(starts[std::size_t(R.slot)], end);
        }
    if (overlap && fork)
        join_from_comm();
    step_collectives.push_back({kind, payload, name, group, group_size, control, stride});
}

void GpuModel::Impl::record_collectives(const std::vector<StepCollective>& list, bool with_events)
{
    for (auto& R : ranks) {
        for (std::size_t i = 0; i < list.size(); ++i) {
            CollectiveRecord c;
            const int size = list[i].group_size > 0 ? list[i].group_size : t;
            c.kind = list[i].kind;
            c.group = list[i].group;
            c.group_size = size;
            c.payload = list[i].payload;
            c.sent = c.received = traffic_per_call(c.kind, size, c.payload);
            if (list[i].root >= 0) { // a broadcast: the root sends to every other member
                const bool root = run::grid_index_in_group(grid_axes.at(list[i].grid_axis), R.index) == list[i].root;
                c.received = root ? 0 : c.payload;
                c.sent = root ? std::int64_t(size - 1) * c.payload : 0;
            }
            c.step = R.log.step;
            c.control = list[i].control;
            c.modeled = options.emulated; // (a group of one rank may have no tensor communicator)
            if (c.modeled) {
                c.seconds = modeled_seconds(c.kind, c.payload, size, list[i].stride);
            } else if (with_events && i < R.pending_collectives.size()) {
                const auto [s, e] = R.pending_collectives[i];
                c.seconds = R.events[e].ms_since(R.events[s]) / 1e3;
                // On the rank's device clock from its first event of the step, like its ops.
                c.start_us = timing_origin_us + R.events[s].ms_since(R.events[0]) * 1e3;
            }
            R.log.records.push_back(c);
        }
        R.pending_collectives.clear();
    }
}

void GpuModel::Impl::check_same(const char* what, int layer, void* GpuRank::*buffer, std::int64_t elements)
{
    if (!check_ranks || capturing || t == 1)
        return;
    const std::size_t bytes = std::size_t(elements) * element_size(options.dtype);
    std::vector<unsigned char> first(bytes), other(bytes);
    for (auto& R : ranks) {
        DeviceGuard guard(R.device);
        SHARD_CUDA_CHECK(cudaStreamSynchronize(R.stream));
        SHARD_CUDA_CHECK(
            cudaMemcpy(R.slot == 0 ? first.data() : other.data(), R.*buffer, bytes, cudaMemcpyDeviceToHost));
        if (R.slot == 0)
            continue;
        for (std::size_t i = 0; i < bytes; ++i) {
            if (first[i] != other[i]) {
                std::fprintf(
                    stderr,
                    "[check] step %d layer %d %s: rank %d differs from the first rank here at byte %zu of %zu\n",
                    ranks[0].log.step, layer, what, R.index, i, bytes);
                break;
            }
        }
    }
}

void GpuModel::Impl::finish_timing()
{
    // Every rank's events are placed from its origin event, recorded at begin_step: the
    // host clock then is the best estimate of when the device clock started the step.
    timing_origin_us = step_begin_us;
    for (auto& R : ranks) {
        for (const auto& p : R.pending) {
            const double us = R.events[p.end].ms_since(R.events[p.start]) * 1e3;
            const double start = R.events[p.start].ms_since(R.events[0]) * 1e3;
            R.log.ops.push_back({p.name, p.kind, p.layer, R.log.step, timing_origin_us + start, us});
        }
        R.pending.clear();
        R.next_event = 0;
    }
}

std::int64_t GpuModel::Impl::moe_rows(std::int64_t M) const
{
    return sp ? M / t : (M + t - 1) / t; // without SP, padded so every rank holds as many
}

bool GpuModel::Impl::moe_shards_rows(int layer) const
{
    return ep > 1 && !sp && t > 1 && model.is_moe_layer(layer);
}

std::size_t GpuModel::Impl::cache_offset(const GpuRank& R) const
{
    // Attention DP: rank r attends the r-th 1/t of the microbatch's sequences.
    // Grids: each rank's cache holds its row block's sequences, first_seq / token_parts on.
    const std::size_t seq = grid ? std::size_t(first_seq / token_parts)
                                 : std::size_t(first_seq) + (data ? std::size_t(R.index) * std::size_t(batch / t) : 0);
    return seq * std::size_t(options.max_context) * std::size_t(kw) * element_size(options.dtype);
}

} // namespace shard::cuda
