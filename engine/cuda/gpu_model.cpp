#include "gpu_model_impl.h"

#include "engine_support.h"

#include "gpu_blas.h"
#include "kernels.h"

#include "cost/device_mesh.h"
#include "cost/hardware_model.h"

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <cstring>

namespace shard::cuda {

static_assert(kernels::kMaxTopK == kEngineMaxTopK, "the routing kernel and the engine's stated limit must agree");

GpuModel::Impl::Impl(const cpu::ModelWeights& w, const Plan& p, const GpuModelOptions& o, const GpuGroupPlace* place)
    : weights(w)
    , model(w.model())
    , plan(p)
    , options(o)
{
    if (const auto why = gpu_unsupported_reason(model, plan.strategy); !why.empty())
        throw Error(why);
    Workload workload = plan.workload;
    geometry = shard_geometry(model, plan.strategy, workload);
    if (!geometry.feasible())
        throw Error("the plan cannot run: " + geometry.reject);
    t = plan.strategy.tensor_size();
    column = plan.strategy.tensor_mode == TensorMode::Column1D && t > 1;
    row = plan.strategy.tensor_mode == TensorMode::Row1D && t > 1;
    data = plan.strategy.attention == AttentionMode::Data && t > 1;
    if (t > 1 && !row && !data && geometry.head_parts != t)
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
                        + std::to_string(place->devices.size()) + " devices and " + std::to_string(place->streams.size())
                        + " streams");
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
        efl = model.moe->expert_ffn / t;
        sfl = model.moe->shared_expert_ffn * model.moe->shared_experts / t;
    }
    vl = geometry.vocab_padded / t;
    if (sp && options.max_rows % t != 0)
        throw Error(std::string(data ? "attention data parallelism" : "sequence parallelism") + " needs the tokens of a step ("
                    + std::to_string(options.max_rows) + ") to divide by the tensor group (" + std::to_string(t) + ")");

    if (!place) {
        int device_count = 0;
        SHARD_CUDA_CHECK(cudaGetDeviceCount(&device_count));
        if (!options.emulated && device_count < t)
            throw Error("the plan needs " + std::to_string(t) + " GPUs and this machine has " + std::to_string(device_count)
                        + "; run it with --backend cuda-emulated to emulate the ranks on one GPU");
        const int stream_count = options.emulated ? 1 : t;
        for (int i = 0; i < stream_count; ++i)
            streams.push_back(std::make_unique<Stream>(options.emulated ? 0 : i));
    }
    ranks.resize(owned_ranks.size());
    // An origin event, then a start and an end per op and collective of every microbatch.
    const int events_per_step = 1 + 2 * (16 + layer_count * 20) * std::max(1, options.microbatches);
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
        load_weights(R);
        Arena measure;
        bind_workspace(R, measure);
        R.work_block = DeviceMemory(measure.used(), R.device, "rank " + std::to_string(r) + " (workspace and KV cache)");
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
    } else if (t > 1) {
        owned_comm = options.emulated ? make_emulated_collectives(0, streams[0]->get(), t)
                                      : make_nccl_collectives(devices, rank_streams);
        comm = owned_comm.get();
    }
    overlap = options.overlap && t > 1;
    if (overlap) {
        // Emulated ranks share one compute stream, so they share one communication stream.
        const bool shared = std::all_of(ranks.begin(), ranks.end(), [&](const GpuRank& R) { return R.stream == ranks[0].stream; });
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
    }
    host_hidden = PinnedMemory(std::size_t(options.batch) * model.hidden * sizeof(float));
    host_tokens = PinnedMemory(std::size_t(options.batch) * sizeof(int));
    host_ids = PinnedMemory(std::size_t(std::max<std::int64_t>(options.max_rows, std::int64_t(options.batch) * max_seq_tokens()))
                            * sizeof(int));
    step_start = std::make_unique<Event>(ranks[0].device);
    step_end = std::make_unique<Event>(ranks[0].device);
    const DeviceMesh mesh(plan.strategy, plan.topology);
    const GroupLink link = mesh.group(t, 1, 0);
    modeled_link_busbw = link.busbw_gbps;
    modeled_link_latency = link.latency_us;
    for (auto& R : ranks)
        R.log.epoch = ranks[0].log.epoch;
}

double GpuModel::Impl::modeled_seconds(CollectiveKind kind, std::int64_t payload) const
{
    return collective_time_us(double(payload), bus_factor(kind, t), modeled_link_busbw, modeled_link_latency) / 1e6;
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
                                const std::function<void()>& run)
{
    const bool measure = timed && !comm->emulated();
    // With overlap the communicator lives on the communication streams: the call waits for
    // the compute before it and the compute after it waits for the call.
    if (overlap)
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
    if (overlap)
        join_from_comm();
    step_collectives.push_back({kind, payload, name});
}

void GpuModel::Impl::record_collectives(const std::vector<StepCollective>& list, bool with_events)
{
    for (auto& R : ranks) {
        for (std::size_t i = 0; i < list.size(); ++i) {
            CollectiveRecord c;
            c.kind = list[i].kind;
            c.group = "tp";
            c.group_size = t;
            c.payload = list[i].payload;
            c.sent = c.received = traffic_per_call(c.kind, t, c.payload);
            c.step = R.log.step;
            c.control = false;
            c.modeled = comm->emulated();
            if (c.modeled) {
                c.seconds = modeled_seconds(c.kind, c.payload);
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
        SHARD_CUDA_CHECK(cudaMemcpy(R.slot == 0 ? first.data() : other.data(), R.*buffer, bytes, cudaMemcpyDeviceToHost));
        if (R.slot == 0)
            continue;
        for (std::size_t i = 0; i < bytes; ++i) {
            if (first[i] != other[i]) {
                std::fprintf(stderr, "[check] step %d layer %d %s: rank %d differs from the first rank here at byte %zu of %zu\n",
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

std::size_t GpuModel::Impl::cache_offset(const GpuRank& R) const
{
    // Attention DP: rank r attends the r-th 1/t of the microbatch's sequences.
    const std::size_t seq = std::size_t(first_seq) + (data ? std::size_t(R.index) * std::size_t(batch / t) : 0);
    return seq * std::size_t(options.max_context) * std::size_t(kw) * element_size(options.dtype);
}

GpuModel::GpuModel(const cpu::ModelWeights& weights, const Plan& plan, const GpuModelOptions& options,
                   const GpuGroupPlace* place)
    : m(std::make_unique<Impl>(weights, plan, options, place))
{
}

GpuModel::~GpuModel() = default;

int GpuModel::ranks() const
{
    return m->t;
}

bool GpuModel::owns(int rank) const
{
    return m->find(rank) != nullptr;
}

const RankLog& GpuModel::log(int rank) const
{
    return m->at(rank).log;
}

RankLog& GpuModel::mutable_log(int rank)
{
    return m->at(rank).log;
}

void GpuModel::set_epoch(RankLog::Clock::time_point epoch)
{
    for (auto& R : m->ranks)
        R.log.epoch = epoch;
}

void GpuModel::set_graphs(bool on)
{
    m->options.graphs = on;
}

double GpuModel::last_step_gpu_ms() const
{
    return m->step_end->ms_since(*m->step_start);
}

const Event* GpuModel::timing_origin(int rank) const
{
    return m->timed ? &m->at(rank).events.at(0) : nullptr;
}

double GpuModel::timing_origin_us() const
{
    return m->step_begin_us;
}

bool GpuModel::graph_replayed() const
{
    return m->graph_used;
}

std::size_t GpuModel::weight_bytes(int rank) const
{
    return m->at(rank).weight_bytes;
}

std::size_t GpuModel::workspace_bytes(int rank) const
{
    return m->at(rank).work_block.bytes();
}

void* GpuModel::activations(int rank) const
{
    return m->at(rank).x;
}

void* GpuModel::next_tokens(int rank) const
{
    return m->at(rank).next_tokens;
}

std::int64_t GpuModel::handoff_elements(int seqs, int T) const
{
    const std::int64_t rows = std::int64_t(seqs) * T;
    return (m->sp ? rows / m->t : rows) * m->model.hidden;
}

cpu::StepOutput GpuModel::step(const std::vector<std::int64_t>& tokens, int position, int T, bool timed, int sequences)
{
    if (!m->first_stage || !m->last_stage)
        throw Error("GpuModel::step runs a whole model; a pipeline stage runs through GpuMesh");
    const int B = sequences > 0 ? std::min(sequences, m->options.batch) : m->options.batch;
    begin_step(timed);
    enqueue(tokens, 0, B, position, T, true);
    end_step();
    return output(B);
}

void GpuModel::begin_step(bool timed)
{
    Impl& I = *m;
    I.timed = timed;
    I.graph_used = false;
    I.step_collectives.clear();
    I.step_begin_us = I.ranks[0].log.now_us();
    for (auto& R : I.ranks) {
        R.next_event = 0;
        R.pending.clear();
        R.pending_collectives.clear();
        if (timed)
            R.events.at(R.next_event++).record(R.stream); // the origin of the step's timings
    }
    I.step_start->record(I.ranks[0].stream);
}

void GpuModel::enqueue(const std::vector<std::int64_t>& tokens, int first_seq, int seqs, int position, int T,
                       bool allow_graph)
{
    Impl& I = *m;
    const int B = seqs;
    if (B < 1 || first_seq < 0 || first_seq + B > I.options.batch)
        throw Error("sequences " + std::to_string(first_seq) + ".." + std::to_string(first_seq + B - 1)
                    + " are outside the group's " + std::to_string(I.options.batch));
    if (!tokens.empty() && std::int64_t(tokens.size()) != std::int64_t(B) * T)
        throw Error("a step of " + std::to_string(B) + " x " + std::to_string(T) + " tokens got " +
                    std::to_string(tokens.size()));
    if (std::int64_t(B) * T > I.options.max_rows)
        throw Error("a step of " + std::to_string(B * T) + " tokens is larger than the workspace (" +
                    std::to_string(I.options.max_rows) + ")");
    if (T > I.max_seq_tokens())
        throw Error("a step of " + std::to_string(T) + " tokens per sequence is longer than the workspace (" +
                    std::to_string(I.max_seq_tokens()) + ")");
    if (position + T > I.options.max_context)
        throw Error("position " + std::to_string(position + T) + " is past the KV cache (" +
                    std::to_string(I.options.max_context) + ")");
    I.batch = B;
    I.first_seq = first_seq;
    I.feedback = tokens.empty();
    // Staged in pinned memory, each microbatch in its own slots, so the copies stay
    // asynchronous; the buffer is rewritten only after end_step has waited for them.
    int* ids = static_cast<int*>(I.host_ids.data()) + std::int64_t(first_seq) * T;
    if (!tokens.empty() && I.first_stage)
        for (std::size_t i = 0; i < tokens.size(); ++i)
            ids[i] = int(tokens[i]);
    for (auto& R : I.ranks) {
        DeviceGuard guard(R.device);
        kernels::set_int(R.pos, position, R.stream);
        if (!tokens.empty() && I.first_stage)
            SHARD_CUDA_CHECK(cudaMemcpyAsync(R.tokens, ids, tokens.size() * sizeof(int), cudaMemcpyHostToDevice, R.stream));
    }
    const cudaStream_t s0 = I.ranks[0].stream;
    const bool single_stream = I.options.emulated || I.t == 1;
    // MoE layers read each expert's row count back to the host: no graph capture.
    const bool use_graph = allow_graph && I.options.graphs && single_stream && T == 1 && tokens.empty() && !I.timed
                           && !I.model.is_moe() && first_seq == 0;
    if (use_graph) {
        if (!I.decode_graph.ready() || I.graph_batch != B) {
            I.graph_batch = B;
            I.step_collectives.clear();
            I.decode_graph.begin_capture(s0);
            I.capturing = true;
            I.forward(position, T);
            I.capturing = false;
            I.decode_graph.end_capture(s0);
            I.graph_collectives = I.step_collectives;
        }
        I.decode_graph.launch(s0);
        I.step_collectives = I.graph_collectives;
        I.graph_used = true;
    } else {
        I.forward(position, T);
    }
}

void GpuModel::end_step()
{
    Impl& I = *m;
    I.step_end->record(I.ranks[0].stream);
    if (I.comm) // first, so a failed or stuck NCCL call is reported as such
        I.comm->synchronize(I.options.timeout_s);
    for (auto& R : I.ranks) {
        DeviceGuard guard(R.device);
        wait_stream(R.stream, I.options.timeout_s);
    }
    if (I.timed)
        I.finish_timing();
    I.record_collectives(I.step_collectives, I.timed && !I.graph_used);
    for (auto& R : I.ranks) {
        R.log.step_end_us.push_back(R.log.now_us());
        ++R.log.step;
    }
}

cpu::StepOutput GpuModel::output(int seqs) const
{
    const Impl& I = *m;
    cpu::StepOutput out;
    if (!I.last_stage || !m->find(0))
        return out;
    out.hidden.assign(static_cast<const float*>(I.host_hidden.data()),
                      static_cast<const float*>(I.host_hidden.data()) + std::size_t(seqs) * I.model.hidden);
    const int* ids = static_cast<const int*>(I.host_tokens.data());
    out.next_tokens.assign(ids, ids + seqs);
    return out;
}

} // namespace shard::cuda
