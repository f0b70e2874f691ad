// GpuModel's public face: construction, the step in pieces (begin, enqueue per microbatch,
// end, output) with its CUDA graph capture, and what a mesh reads off a group.
#include "gpu_model_impl.h"

#include "kernels.h"

#include <algorithm>

namespace shard::cuda {

GpuModel::GpuModel(const run::ModelWeights& weights, const Plan& plan, const GpuModelOptions& options,
                   const GpuGroupPlace* place)
    : m(std::make_unique<Impl>(weights, plan, options, place))
{ }

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
    if (m->grid) // a row block's hidden chunk
        return rows / m->token_parts * m->grid_cw;
    return (m->sp ? rows / m->t : rows) * m->model.hidden;
}

run::StepOutput GpuModel::step(const std::vector<std::int64_t>& tokens, int position, int T, bool timed, int sequences)
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
        throw Error("a step of " + std::to_string(B) + " x " + std::to_string(T) + " tokens got "
                    + std::to_string(tokens.size()));
    if (std::int64_t(B) * T > I.options.max_rows)
        throw Error("a step of " + std::to_string(B * T) + " tokens is larger than the workspace ("
                    + std::to_string(I.options.max_rows) + ")");
    if (T > I.max_seq_tokens())
        throw Error("a step of " + std::to_string(T) + " tokens per sequence is longer than the workspace ("
                    + std::to_string(I.max_seq_tokens()) + ")");
    if (position + T > I.options.max_context)
        throw Error("position " + std::to_string(position + T) + " is past the KV cache ("
                    + std::to_string(I.options.max_context) + ")");
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
            SHARD_CUDA_CHECK(
                cudaMemcpyAsync(R.tokens, ids, tokens.size() * sizeof(int), cudaMemcpyHostToDevice, R.stream));
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
    for (const auto& axis : I.grid_groups)
        for (DeviceCollectives* group : axis)
            if (group)
                group->synchronize(I.options.timeout_s);
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

run::StepOutput GpuModel::output(int seqs) const
{
    const Impl& I = *m;
    run::StepOutput out;
    if (!I.last_stage || !m->find(0))
        return out;
    out.hidden.assign(static_cast<const float*>(I.host_hidden.data()),
                      static_cast<const float*>(I.host_hidden.data()) + std::size_t(seqs) * I.model.hidden);
    const int* ids = static_cast<const int*>(I.host_tokens.data());
    out.next_tokens.assign(ids, ids + seqs);
    return out;
}

} // namespace shard::cuda
