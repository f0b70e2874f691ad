#include "gpu_model_impl.h"

#include "gpu_blas.h"
#include "kernels.h"

#include "cost/device_mesh.h"
#include "cost/hardware_model.h"

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <cstring>

namespace shard::cuda {

std::string gpu_unsupported_reason(const ModelSpec& model, const Strategy& s)
{
    if (const auto why = cpu::cpu_unsupported_reason(model, false); !why.empty())
        return why;
    if (model.is_moe()) {
        const MoeSpec& moe = *model.moe;
        if (s.ep > 1)
            return "expert parallelism (EP " + std::to_string(s.ep)
                   + ") is not in the CUDA engine yet: it splits every expert over the tensor group (EP 1); the CPU "
                     "backend runs EP plans";
        if (moe.router_bias)
            return "routers with a score-correction bias are not in the CUDA engine yet (the CPU backend runs them)";
        if (model.mlp_bias)
            return "experts with biases are not in the CUDA engine yet (the CPU backend runs them)";
        if (moe.experts_per_token > kernels::kMaxTopK)
            return "top-" + std::to_string(moe.experts_per_token) + " routing is above the engine's top-"
                   + std::to_string(kernels::kMaxTopK);
    }
    if (s.pp > 1 || s.dp > 1)
        return "pipeline and data parallel meshes are not in the CUDA engine yet (pp " + std::to_string(s.pp) + ", dp "
               + std::to_string(s.dp) + "; the CPU backend runs them)";
    if (s.tensor_mode != TensorMode::None && s.tensor_mode != TensorMode::Megatron1D
        && s.tensor_mode != TensorMode::MegatronSP)
        return "the CUDA engine runs Megatron 1D tensor parallelism (with or without sequence parallelism); "
               + to_string(s.tensor_mode) + " runs on the CPU backend";
    if (s.attention == AttentionMode::Data)
        return "attention data parallelism is not in the CUDA engine yet";
    return {};
}

GpuModel::Impl::Impl(const cpu::ModelWeights& w, const Plan& p, const GpuModelOptions& o)
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
    if (t > 1 && geometry.head_parts != t)
        throw Error("the CUDA engine needs the attention heads split " + std::to_string(t) + " ways");
    sp = plan.strategy.tensor_mode == TensorMode::MegatronSP && t > 1;
    check_ranks = std::getenv("SHARD_CHECK_RANKS") != nullptr;
    heads = geometry.heads_local;
    kv_heads = geometry.kv_heads_local;
    qw = std::int64_t(heads) * model.head_dim;
    kw = std::int64_t(kv_heads) * model.head_dim;
    W = qw + 2 * kw;
    fl = model.ffn / t;
    if (model.is_moe()) {
        efl = model.moe->expert_ffn / t;
        sfl = model.moe->shared_expert_ffn * model.moe->shared_experts / t;
    }
    vl = geometry.vocab_padded / t;
    if (sp && options.max_rows % t != 0)
        throw Error("sequence parallelism needs the tokens of a step (" + std::to_string(options.max_rows)
                    + ") to divide by the tensor group (" + std::to_string(t) + ")");

    int device_count = 0;
    SHARD_CUDA_CHECK(cudaGetDeviceCount(&device_count));
    if (!options.emulated && device_count < t)
        throw Error("the plan needs " + std::to_string(t) + " GPUs and this machine has " + std::to_string(device_count)
                    + "; run it with --backend cuda-emulated to emulate the ranks on one GPU");
    const int stream_count = options.emulated ? 1 : t;
    for (int i = 0; i < stream_count; ++i)
        streams.push_back(std::make_unique<Stream>(options.emulated ? 0 : i));
    ranks.resize(std::size_t(t));
    const int events_per_step = 2 * (16 + model.layers * 20);
    for (int r = 0; r < t; ++r) {
        GpuRank& R = ranks[r];
        R.index = r;
        R.device = options.emulated ? 0 : r;
        R.stream = streams[options.emulated ? 0 : r]->get();
        // One cuBLAS handle (and workspace) per stream: emulated ranks take turns on one.
        const bool share = options.emulated && r > 0 && !std::getenv("SHARD_BLAS_PER_RANK");
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
    if (t > 1)
        comm = options.emulated ? make_emulated_collectives(0, streams[0]->get(), t) : make_nccl_collectives(devices, rank_streams);
    host_hidden = PinnedMemory(std::size_t(options.batch) * model.hidden * sizeof(float));
    host_tokens = PinnedMemory(std::size_t(options.batch) * sizeof(int));
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

void GpuModel::Impl::collective(CollectiveKind kind, std::int64_t payload, const std::string& name,
                                const std::function<void()>& run)
{
    const bool measure = timed && !comm->emulated();
    std::vector<std::size_t> starts;
    if (measure)
        for (auto& R : ranks) {
            starts.push_back(R.next_event++);
            R.events.at(starts.back()).record(R.stream);
        }
    run();
    if (measure)
        for (auto& R : ranks) {
            const std::size_t end = R.next_event++;
            R.events.at(end).record(R.stream);
            R.pending_collectives.emplace_back(starts[std::size_t(R.index)], end);
        }
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
        SHARD_CUDA_CHECK(cudaMemcpy(R.index == 0 ? first.data() : other.data(), R.*buffer, bytes, cudaMemcpyDeviceToHost));
        if (R.index == 0)
            continue;
        for (std::size_t i = 0; i < bytes; ++i) {
            if (first[i] != other[i]) {
                std::fprintf(stderr, "[check] step %d layer %d %s: rank %d differs from rank 0 at byte %zu of %zu\n",
                             ranks[0].log.step, layer, what, R.index, i, bytes);
                break;
            }
        }
    }
}

void GpuModel::Impl::finish_timing()
{
    timing_origin_us = ranks[0].log.now_us();
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

GpuModel::GpuModel(const cpu::ModelWeights& weights, const Plan& plan, const GpuModelOptions& options)
    : m(std::make_unique<Impl>(weights, plan, options))
{
}

GpuModel::~GpuModel() = default;

int GpuModel::ranks() const
{
    return m->t;
}

const RankLog& GpuModel::log(int rank) const
{
    return m->ranks[std::size_t(rank)].log;
}

void GpuModel::set_graphs(bool on)
{
    m->options.graphs = on;
}

double GpuModel::last_step_gpu_ms() const
{
    return m->step_end->ms_since(*m->step_start);
}

std::size_t GpuModel::weight_bytes(int rank) const
{
    return m->ranks[std::size_t(rank)].weight_bytes;
}

std::size_t GpuModel::workspace_bytes(int rank) const
{
    return m->ranks[std::size_t(rank)].work_block.bytes();
}

cpu::StepOutput GpuModel::step(const std::vector<std::int64_t>& tokens, int position, int T, bool timed, int sequences)
{
    Impl& I = *m;
    const int B = sequences > 0 ? std::min(sequences, I.options.batch) : I.options.batch;
    I.batch = B;
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
    for (auto& R : I.ranks) {
        DeviceGuard guard(R.device);
        kernels::set_int(R.pos, position, R.stream);
        if (!tokens.empty()) {
            std::vector<int> ids(tokens.begin(), tokens.end());
            SHARD_CUDA_CHECK(cudaMemcpyAsync(R.tokens, ids.data(), ids.size() * sizeof(int), cudaMemcpyHostToDevice, R.stream));
            SHARD_CUDA_CHECK(cudaStreamSynchronize(R.stream)); // ids is about to go away
        }
    }
    const cudaStream_t s0 = I.ranks[0].stream;
    const bool single_stream = I.options.emulated || I.t == 1;
    // MoE layers read each expert's row count back to the host: no graph capture.
    const bool use_graph = I.options.graphs && single_stream && T == 1 && tokens.empty() && !timed && !I.model.is_moe();
    I.step_start->record(s0);
    if (use_graph) {
        if (!I.decode_graph.ready() || I.graph_batch != B) {
            I.graph_batch = B;
            I.timed = false;
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
    } else {
        I.timed = timed;
        I.step_collectives.clear();
        I.forward(position, T);
    }
    I.step_end->record(s0);
    if (I.comm)
        I.comm->synchronize(I.options.timeout_s);
    else
        wait_stream(s0, I.options.timeout_s);
    if (timed)
        I.finish_timing();
    I.record_collectives(I.step_collectives, timed && !use_graph);
    for (auto& R : I.ranks) {
        R.log.step_end_us.push_back(R.log.now_us());
        ++R.log.step;
    }
    cpu::StepOutput out;
    out.hidden.assign(static_cast<const float*>(I.host_hidden.data()),
                      static_cast<const float*>(I.host_hidden.data()) + std::size_t(B) * I.model.hidden);
    const int* ids = static_cast<const int*>(I.host_tokens.data());
    out.next_tokens.assign(ids, ids + B);
    return out;
}

} // namespace shard::cuda
