#pragma once

// Private to gpu_model*.cpp: one rank's device state and the group that drives them.
#include "gpu_model.h"
#include "kernels.h"

#include "cost/collective.h"
#include "cost/device_mesh.h"
#include "run/grid_layout.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <string>

namespace shard::cuda {

struct GpuLayer {
    void* wqkv = nullptr; // [hidden, q | k | v] of this rank's heads
    void* wo = nullptr; // [heads_local * d, hidden]
    void* wgu = nullptr; // [hidden, gate | up] (or up alone) of this rank's ffn slice
    void* wdown = nullptr; // [ffn_local, hidden]
    float* qkv_bias = nullptr;
    float* o_bias = nullptr;
    float* gu_bias = nullptr;
    float* down_bias = nullptr;
    float* in_norm = nullptr;
    float* in_norm_b = nullptr;
    float* post_norm = nullptr;
    float* post_norm_b = nullptr;
    float* q_norm = nullptr;
    float* k_norm = nullptr;
    void* k_cache = nullptr; // [batch][max_ctx][kv_heads_local][d]
    void* v_cache = nullptr;
    // MoE layers (experts split like a Megatron MLP: every expert, a 1/t slice of each).
    float* router = nullptr; // [hidden, experts], fp32
    std::vector<void*> expert_gu; // per expert: [hidden, gate | up] of its ffn slice
    std::vector<void*> expert_down; // per expert: [ffn slice, hidden]
    void* shared_gu = nullptr; // shared experts, sliced the same way
    void* shared_down = nullptr;
    float* shared_gate = nullptr; // [hidden, 1], fp32
};

struct GpuRank {
    int index = 0; // in the tensor group
    int slot = 0; // in this driver's ranks
    int device = 0;
    cudaStream_t stream = nullptr;
    cudaStream_t comm_stream = nullptr; // with overlap: the tensor group's collectives run here
    std::unique_ptr<Event> fork, join, chunk_ready; // with overlap: order compute and communication
    std::shared_ptr<BlasHandle> blas; // one per stream: emulated ranks share rank 0's
    DeviceMemory weight_block;
    DeviceMemory work_block;
    std::size_t weight_bytes = 0;

    std::vector<GpuLayer> layers;
    void* embed = nullptr; // [vocab_local, hidden], padding rows zero
    void* positions = nullptr; // learned positions [max_positions, hidden] or null
    void* head = nullptr; // [hidden, vocab_local]
    float* final_norm = nullptr;
    float* final_norm_b = nullptr;
    std::int64_t vocab_begin = 0;

    // Workspace, carved once from work_block.
    void *x = nullptr, *hn = nullptr, *hn_local = nullptr, *qkv = nullptr, *attn = nullptr, *part = nullptr,
         *reduced = nullptr, *gu = nullptr, *act = nullptr, *full = nullptr, *last = nullptr, *last_n = nullptr,
         *logits = nullptr, *logits_all = nullptr, *probs = nullptr, *blas_ws = nullptr;
    float *scores = nullptr, *partials = nullptr, *pairs = nullptr, *pairs_all = nullptr, *last_f32 = nullptr;
    int *tokens = nullptr, *pos = nullptr;
    int* next_tokens = nullptr; // [batch] greedy tokens of the replica's sequences, fed back to decode
    // MoE workspace (null for dense models).
    float *hn_f32 = nullptr, *router_logits = nullptr, *slot_weights = nullptr, *gate_logits = nullptr;
    int *slot_experts = nullptr, *expert_counts = nullptr, *expert_offsets = nullptr, *slot_order = nullptr,
        *slot_position = nullptr;
    // Column 1D: gathered blocks [t][M][w], the rows they interleave into [M][t * w], a
    // rank's output columns [M][h / t].
    void *gathered = nullptr, *interleaved = nullptr, *column_out = nullptr;
    void *permuted = nullptr, *expert_gu_ws = nullptr, *expert_act_ws = nullptr, *expert_out = nullptr,
         *shared_gu_ws = nullptr, *shared_act_ws = nullptr, *shared_out = nullptr;
    std::vector<int> host_offsets; // each expert's first routed row, read back to size its GEMMs
    // Expert parallelism: this rank's rows between attention and the experts (xs), the
    // gathered tokens of its etp group, per-expert counts received from every EP peer, what
    // arrived, what the experts made of it, what came back, the weighted sums.
    void *xs = nullptr, *tokens_ep = nullptr, *received = nullptr, *results = nullptr, *returned = nullptr,
         *y_tokens = nullptr, *y_local = nullptr;
    int* peer_counts = nullptr; // [ep][experts_local]: rows of each local expert from each peer
    PinnedMemory host_counts; // its host copy
    // Grid layouts (2D / 2.5D / 3D): the rank's place in the grid, the partial row
    // statistics of its norms, and the linears' scratch: the SUMMA blocks received (two of
    // each, so the next broadcast lands while this one multiplies), the gathered X, its
    // interleaved rows, the gathered W, the product and its columns split for a
    // reduce-scatter.
    std::optional<run::GridLayout> grid;
    float* grid_stats = nullptr;
    void *grid_x[2] = {}, *grid_w[2] = {};
    void *grid_in = nullptr, *grid_rows = nullptr, *grid_weight = nullptr, *grid_partial = nullptr,
         *grid_split = nullptr;
    std::unique_ptr<Event> block_ready[2], block_used[2]; // SUMMA under --overlap

    RankLog log;
    std::vector<Event> events;
    std::size_t next_event = 0;
    struct PendingOp {
        const char* name;
        const char* kind;
        int layer;
        std::size_t start, end;
    };
    std::vector<PendingOp> pending;
    std::vector<std::pair<std::size_t, std::size_t>> pending_collectives; // events of records.back()...
};

// A collective of one step, as planned before the step runs (sizes are static).
struct StepCollective {
    CollectiveKind kind;
    std::int64_t payload; // bytes, nccl-tests' "size"
    std::string name;
    std::string group = "tp"; // the communicator's axis: "tp", "ep", "etp"
    int group_size = 0; // 0: the tensor group's
    bool control = false; // routing metadata, not priced
    int stride = 1; // members' distance in the stage, for the modeled link
    // A broadcast's root on grid axis `grid_axis`: the root receives nothing, the others the
    // payload (what the CPU executor counts, and the planner over rotating roots).
    int root = -1;
    std::size_t grid_axis = 0;
};

struct GpuModel::Impl {
    const run::ModelWeights& weights;
    const ModelSpec& model;
    Plan plan;
    GpuModelOptions options;
    ShardGeometry geometry;
    int t = 1;
    int stage = 0, replica = 0;
    int first_layer = 0, layer_count = 0; // this stage's layers
    bool first_stage = true, last_stage = true;
    bool sp = false; // residual rows sharded over the group (sequence parallel, or attention DP)
    bool data = false; // attention data parallel: each rank attends its 1/t of the sequences, all heads
    // The 1D column and row layouts (else Megatron): column splits each weight's output
    // columns and gathers activations; row splits each weight's input rows (attention
    // replicated) and all-reduces partial sums.
    bool column = false, row = false;
    // Expert parallelism inside the group: ep shards of experts_local experts, each split
    // over etp ranks; tokens reach them through all-to-alls.
    int ep = 1, etp = 1, experts_local = 0;
    std::vector<std::unique_ptr<DeviceCollectives>> owned_expert_comms;
    std::vector<DeviceCollectives*> expert_groups, expert_tp_groups;
    std::int64_t moe_rows(std::int64_t M) const; // rows a rank holds in an EP MoE layer
    bool moe_shards_rows(int layer) const; // the layer's attention leaves x as padded row shards
    std::int64_t aw = 0; // every head's attention width
    std::int64_t fd = 0; // rows of this rank's down-projection (row: f / t; else the up width)
    std::int64_t qw = 0, kw = 0, W = 0, fl = 0, vl = 0;
    std::int64_t efl = 0, sfl = 0; // this rank's slice of each routed expert's and of the shared experts' ffn
    int heads = 0, kv_heads = 0;
    // Grid layouts: the axes of the tensor shape (last "tp_col", then "tp_row", a third
    // "tp_z") and, per axis, the DeviceCollectives of each of its groups (null where this
    // driver runs none of the group's ranks); rows and hidden chunk a rank holds per
    // sequence-token; token_parts splits the sequences of a microbatch.
    bool grid = false;
    std::vector<run::GridAxis> grid_axes;
    std::vector<std::vector<DeviceCollectives*>> grid_groups;
    std::int64_t grid_cw = 0;
    int token_parts = 1;
    std::vector<std::unique_ptr<Stream>> streams; // owned when the model has no mesh
    std::vector<GpuRank> ranks;
    std::unique_ptr<DeviceCollectives> owned_comm;
    DeviceCollectives* comm = nullptr;
    // --overlap on: the tensor group's collectives run on streams of their own; the
    // all-reduce after a row-parallel GEMM goes in row chunks, each reduced while the next
    // chunk multiplies.
    bool overlap = false;
    std::vector<std::unique_ptr<Stream>> comm_streams;
    static constexpr int kOverlapChunks = 4;
    PinnedMemory host_hidden, host_tokens, host_ids;
    std::unique_ptr<Event> step_start, step_end;
    GraphExec decode_graph;
    std::vector<StepCollective> graph_collectives;
    std::vector<StepCollective> step_collectives;
    bool timed = false;
    int batch = 1; // sequences of the current microbatch (at most options.batch)
    int first_seq = 0; // its first sequence in the replica (KV cache rows, token slots)
    bool feedback = false; // the embedding reads next_tokens (decode) rather than uploaded ids
    bool graph_used = false;
    double step_begin_us = 0;
    int graph_batch = 0; // sequences the decode graph was captured for
    // Debugging aid (SHARD_CHECK_RANKS=1): buffers every rank must hold identically are
    // compared after each collective and block; the first difference is printed.
    bool check_ranks = false;
    bool capturing = false;
    double timing_origin_us = 0; // the host clock at the step's first (origin) event
    void check_same(const char* what, int layer, void* GpuRank::*buffer, std::int64_t elements);
    std::optional<DeviceMesh> device_mesh; // the plan's placement: the modeled link of each group

    Impl(const run::ModelWeights& w, const Plan& p, const GpuModelOptions& o, const GpuGroupPlace* place);
    int max_seq_tokens() const
    {
        return options.max_seq_tokens > 0 ? options.max_seq_tokens : std::max(1, options.max_rows / options.batch);
    }
    GpuLayer& layer_of(GpuRank& rank, int layer) { return rank.layers[std::size_t(layer - first_layer)]; }
    GpuRank* find(int tensor_rank)
    {
        for (auto& R : ranks)
            if (R.index == tensor_rank)
                return &R;
        return nullptr;
    }
    GpuRank& at(int tensor_rank)
    {
        if (GpuRank* R = find(tensor_rank))
            return *R;
        throw Error("tensor rank " + std::to_string(tensor_rank) + " runs in another thread or process");
    }
    std::size_t cache_offset(const GpuRank& R) const; // bytes from a cache's start to the rows R attends first
    void load_weights(GpuRank& rank);
    void bind_workspace(GpuRank& rank, Arena& arena);
    void forward(int position, int T);
    void embed(int T);
    void attention_block(int layer, int position, int T);
    void out_projection(int layer, std::int64_t M); // o_proj, its collectives and the residual add
    void shard_residual(int layer, std::int64_t M); // before an EP MoE layer without SP: padded row shards
    // Column 1D: all-gathers `in` [M][w] of every rank, interleaves into R.interleaved
    // [M][t * w], multiplies by w [t * w][h / t] (+ bias slice), gathers the column blocks
    // back into R.part [M][h]. `name` / `kind`: the op; `gather_name`: the first gather's.
    void column_parallel(int layer, std::int64_t M, std::int64_t w, void* GpuRank::*in, void* GpuLayer::*weight,
                         float* GpuLayer::*bias, const char* name, const char* kind, const char* gather_name,
                         const char* out_name);
    void interleave(GpuRank& R, void* out, const void* blocks, std::int64_t M, std::int64_t w);
    // blocks [parts][M][w] -> out [M][parts * w], and its inverse.
    void interleave(GpuRank& R, void* out, const void* blocks, int parts, std::int64_t M, std::int64_t w);
    void split_columns(GpuRank& R, void* out, const void* rows, int parts, std::int64_t M, std::int64_t w);
    void add_residual(int layer, std::int64_t M); // x += part
    void normalise(int layer, int T, bool post);
    void mlp_block(int layer, int T);
    void moe_block(int layer, int T); // gpu_model_moe.cpp
    void moe_block_ep(int layer, int T); // gpu_model_moe_ep.cpp
    // out = routed expert `expert` (an index into L's experts) of `rows` rows of `in`.
    void run_expert(GpuRank& R, const GpuLayer& L, int expert, const void* in, void* out, std::int64_t rows);
    // out += the shared experts of `rows` rows of `in` (in_f32: the same rows in fp32, for the
    // gate), on R's stream.
    void add_shared_experts(GpuRank& R, const GpuLayer& L, const void* in, const float* in_f32, std::int64_t rows,
                            void* out);
    void head(int T);
    // Grid layouts (gpu_model_grid.cpp, gpu_model_grid_linear.cpp), as the CPU GridModel.
    std::size_t grid_axis(const char* name) const; // index into grid_axes
    void grid_forward(int position, int T);
    void grid_embed(std::int64_t rows, int T);
    void grid_norm(int layer, std::int64_t rows, bool post);
    void grid_gather_last(int T); // the last rows' hidden chunks of every rank into R.last
    // out = in x w of a [K, N] weight under the plan's grid (orientation A: qkv, gate/up;
    // B: o, down), then the output chunk's bias; `rows` token rows per rank.
    void grid_linear(int layer, std::int64_t rows, std::int64_t K, std::int64_t N, bool orientation_a,
                     void* GpuRank::*in, void* GpuLayer::*w, float* GpuLayer::*bias, void* GpuRank::*out,
                     const char* name, const char* kind);
    void summa_linear(int layer, std::int64_t rows, std::int64_t K, std::int64_t N, void* GpuRank::*in,
                      void* GpuLayer::*w, void* GpuRank::*out, const char* name, const char* kind);
    void stationary_linear(int layer, std::int64_t rows, std::int64_t K, std::int64_t N, bool orientation_a,
                           void* GpuRank::*in, void* GpuLayer::*w, void* GpuRank::*out, const char* name,
                           const char* kind);
    void cube_linear(int layer, std::int64_t rows, std::int64_t K, std::int64_t N, bool orientation_a,
                     void* GpuRank::*in, void* GpuLayer::*w, void* GpuRank::*out, const char* name, const char* kind);
    // One collective over every group of grid axis `axis`: run(group, its members here).
    void grid_collective(std::size_t axis, CollectiveKind kind, std::int64_t payload, const std::string& name,
                         const std::function<void(DeviceCollectives&, const std::vector<GpuRank*>&)>& run,
                         bool fork = true, int root = -1);
    void attend(int layer, int position, int T, int seqs); // the qkv rows of `seqs` sequences into attn
    void bind_grid_workspace(GpuRank& R, Arena& arena);
    // The head's, attention's and the step's small buffers, for `attended` sequences at most.
    void bind_head_workspace(GpuRank& R, Arena& arena, std::int64_t attended);
    void reduce_into_residual(std::int64_t rows, float* GpuLayer::*bias, int layer, const char* kind,
                              bool reduced = false);
    // The row-parallel GEMM part = in [M, K] x w [K, hidden] of every rank, then its
    // all-reduce (`reduce_name`): with overlap, in row chunks each reduced behind the next
    // chunk's GEMM; else the GEMM alone, reduce_into_residual reducing after. One op named
    // `name` of kind `kind` either way; `fused` runs first inside it. True when reduced.
    bool row_parallel(int layer, std::int64_t M, std::int64_t K, void* GpuRank::*in, void* GpuLayer::*w,
                      const char* name, const char* kind, const char* reduce_name,
                      const std::function<void(GpuRank&)>& fused);
    std::size_t op_begin(GpuRank& R);
    void op_end(GpuRank& R, std::size_t start, const char* name, const char* kind, int layer);
    void fork_to_comm();
    void join_from_comm();

    template<class F> void op(GpuRank& r, const char* name, const char* kind, int layer, F&& f);
    // With overlap the call runs on the communication streams; `fork` orders it after the
    // compute before it and the compute after it after the call (else the caller does).
    void collective(CollectiveKind kind, std::int64_t payload, const std::string& name,
                    const std::function<void()>& run, const char* group = "tp", int group_size = 0,
                    bool control = false, bool fork = true, int stride = 1);
    void record_collectives(const std::vector<StepCollective>& list, bool with_events);
    void finish_timing();
    double modeled_seconds(CollectiveKind kind, std::int64_t payload, int group_size, int stride) const;
};

// One pointer per rank this driver runs, in rank order (what the device collectives take).
template<class F> inline std::vector<void*> each_ptr(std::vector<GpuRank>& ranks, F f)
{
    std::vector<void*> out;
    for (auto& R : ranks)
        out.push_back(f(R));
    return out;
}

// f(R) for each rank of a group this driver runs, in group order.
template<class F> inline std::vector<void*> pointers(const std::vector<GpuRank*>& group, F f)
{
    std::vector<void*> out;
    for (GpuRank* R : group)
        out.push_back(f(*R));
    return out;
}

// The norms' epsilon, the CPU reference's; the grid layouts' chunk norm takes it in double.
constexpr double kNormEps = 1e-5;

inline kernels::Act act_of(Activation a)
{
    switch (a) {
    case Activation::SiLU:
        return kernels::Act::SiLU;
    case Activation::GELU:
        return kernels::Act::GELU;
    case Activation::GELUTanh:
        return kernels::Act::GELUTanh;
    case Activation::ReLU:
        return kernels::Act::ReLU;
    }
    return kernels::Act::SiLU;
}

inline std::size_t GpuModel::Impl::op_begin(GpuRank& R)
{
    if (!timed)
        return 0;
    const std::size_t start = R.next_event++;
    R.events.at(start).record(R.stream);
    return start;
}

inline void GpuModel::Impl::op_end(GpuRank& R, std::size_t start, const char* name, const char* kind, int layer)
{
    if (!timed)
        return;
    const std::size_t end = R.next_event++;
    R.events.at(end).record(R.stream);
    R.pending.push_back({name, kind, layer, start, end});
}

template<class F> inline void GpuModel::Impl::op(GpuRank& R, const char* name, const char* kind, int layer, F&& f)
{
    const std::size_t start = op_begin(R);
    f();
    op_end(R, start, name, kind, layer);
}

} // namespace shard::cuda
