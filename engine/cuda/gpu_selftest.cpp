#include "gpu_selftest.h"

#include "gpu_executor.h"

#include "run/test_models.h"

#include "core/presets.h"
#include "cost/estimate.h"
#include "cost/shard_geometry.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

namespace shard::cuda {

ModelSpec selftest_model(const std::string& id)
{
    return run::test_model(id);
}

std::vector<SelftestCase> selftest_cases(const std::vector<GpuDType>& dtypes, int gpus)
{
    struct Layout {
        TensorMode mode;
        int t;
        LmHeadMode head;
        int pp = 1;
        int dp = 1;
        bool attention_dp = false;
        int ep = 1;
    };
    const std::vector<Layout> layouts{{TensorMode::None, 1, LmHeadMode::DistributedArgmax},
                                      {TensorMode::Megatron1D, 2, LmHeadMode::DistributedArgmax},
                                      {TensorMode::Megatron1D, 4, LmHeadMode::GatherLogits},
                                      {TensorMode::Megatron1D, 8, LmHeadMode::DistributedArgmax},
                                      {TensorMode::MegatronSP, 2, LmHeadMode::DistributedArgmax},
                                      {TensorMode::MegatronSP, 4, LmHeadMode::GatherLogits},
                                      // The other 1D layouts: column gathers, row all-reduces.
                                      {TensorMode::Column1D, 2, LmHeadMode::DistributedArgmax},
                                      {TensorMode::Column1D, 4, LmHeadMode::GatherLogits},
                                      {TensorMode::Row1D, 4, LmHeadMode::DistributedArgmax},
                                      {TensorMode::Row1D, 8, LmHeadMode::GatherLogits},
                                      // Attention data parallel: each rank attends its own sequences.
                                      {TensorMode::Megatron1D, 2, LmHeadMode::GatherLogits, 1, 1, true},
                                      {TensorMode::Megatron1D, 4, LmHeadMode::DistributedArgmax, 1, 1, true},
                                      // Meshes: pipeline stages with microbatches, data-parallel replicas.
                                      {TensorMode::None, 1, LmHeadMode::DistributedArgmax, 2, 1},
                                      {TensorMode::None, 1, LmHeadMode::DistributedArgmax, 4, 1},
                                      {TensorMode::None, 1, LmHeadMode::DistributedArgmax, 1, 2},
                                      {TensorMode::Megatron1D, 2, LmHeadMode::DistributedArgmax, 2, 1},
                                      {TensorMode::Megatron1D, 2, LmHeadMode::GatherLogits, 1, 2},
                                      {TensorMode::MegatronSP, 2, LmHeadMode::DistributedArgmax, 2, 1},
                                      // Expert parallelism (MoE models): shards of experts, with and
                                      // without expert TP, SP, attention DP, a pipeline.
                                      {TensorMode::Megatron1D, 2, LmHeadMode::DistributedArgmax, 1, 1, false, 2},
                                      {TensorMode::Megatron1D, 4, LmHeadMode::GatherLogits, 1, 1, false, 4},
                                      {TensorMode::Megatron1D, 4, LmHeadMode::DistributedArgmax, 1, 1, false, 2},
                                      {TensorMode::Megatron1D, 8, LmHeadMode::DistributedArgmax, 1, 1, false, 2},
                                      {TensorMode::MegatronSP, 4, LmHeadMode::DistributedArgmax, 1, 1, false, 4},
                                      {TensorMode::Megatron1D, 4, LmHeadMode::DistributedArgmax, 1, 1, true, 4},
                                      {TensorMode::Megatron1D, 2, LmHeadMode::DistributedArgmax, 2, 1, false, 2},
                                      // Experts across data-parallel replicas: EP2 over DP2 (one rank
                                      // each), DP2 x TP2 x EP4, DP2 x TP2 with EP2 x expert-TP2, and
                                      // PP2 x DP2 x EP2 (a shared expert group per stage).
                                      {TensorMode::None, 1, LmHeadMode::DistributedArgmax, 1, 2, false, 2},
                                      {TensorMode::None, 1, LmHeadMode::DistributedArgmax, 2, 2, false, 2},
                                      {TensorMode::Megatron1D, 2, LmHeadMode::GatherLogits, 1, 2, false, 4},
                                      {TensorMode::Megatron1D, 2, LmHeadMode::DistributedArgmax, 1, 2, false, 2}};
    // The CPU executor's grid matrix: SUMMA 2x2 and 3x3 (9 sequences, so 3 row blocks
    // divide them), weight-stationary 2x2 and 2x4, Tesseract 2x2x2, the 3D cube 2^3, and a
    // pipeline of two SUMMA 2x2 stages.
    struct GridLayout {
        TensorMode mode;
        std::vector<int> shape;
        int pp;
        int batch;
        LmHeadMode head;
    };
    const std::vector<GridLayout> grids{{TensorMode::Summa2D, {2, 2}, 1, 8, LmHeadMode::DistributedArgmax},
                                        {TensorMode::Summa2D, {3, 3}, 1, 9, LmHeadMode::GatherLogits},
                                        {TensorMode::WeightStationary2D, {2, 2}, 1, 8, LmHeadMode::DistributedArgmax},
                                        {TensorMode::WeightStationary2D, {2, 4}, 1, 8, LmHeadMode::GatherLogits},
                                        {TensorMode::Tesseract25D, {2, 2, 2}, 1, 8, LmHeadMode::DistributedArgmax},
                                        {TensorMode::Cube3D, {2, 2, 2}, 1, 8, LmHeadMode::DistributedArgmax},
                                        {TensorMode::Summa2D, {2, 2}, 2, 8, LmHeadMode::DistributedArgmax}};
    auto grid_size = [](const std::vector<int>& shape) {
        int n = 1;
        for (const int v : shape)
            n *= v;
        return n;
    };
    // One DGX H100; two for the plans of more than eight ranks (SUMMA 3x3).
    const Topology topology = PresetLibrary::instance().topology("dgx-h100");
    const Topology two_nodes = PresetLibrary::instance().topology("2x-dgx-h100");
    std::vector<SelftestCase> cases;
    for (const GpuDType dtype : dtypes) {
        for (const char* id : {"tiny-dense", "tiny-gpt2", "tiny-qk-norm", "tiny-gqa-d32", "tiny-moe"}) {
            // MoE in fp32 only: in bf16 a router logit rounded differently from the fp32
            // reference may pick another expert, a real difference no tolerance covers.
            if (std::string(id) == "tiny-moe" && dtype != GpuDType::F32)
                continue;
            for (const Layout& layout : layouts) {
                const ModelSpec model = selftest_model(id);
                const bool mesh = layout.pp > 1 || layout.dp > 1;
                // Meshes on the dense, GPT-2-style and MoE models; a stage needs a layer.
                if (mesh && (std::string(id) == "tiny-qk-norm" || std::string(id) == "tiny-gqa-d32"))
                    continue;
                if (layout.pp > model.layers)
                    continue;
                if (layout.ep > 1 && !model.is_moe())
                    continue;
                const bool column_or_row = layout.mode == TensorMode::Column1D || layout.mode == TensorMode::Row1D;
                if (column_or_row && model.is_moe()) // refused: the engine's MoE layers are Megatron-sliced
                    continue;
                // Row and attention DP keep every head on every rank.
                const bool heads_split = layout.mode != TensorMode::Row1D && !layout.attention_dp;
                if (heads_split && layout.t > 1 && model.kv_heads % layout.t != 0 && layout.t % model.kv_heads != 0)
                    continue;
                if (heads_split && model.heads % layout.t != 0)
                    continue;
                SelftestCase c;
                c.dtype = dtype;
                c.emulated = gpus < layout.t * layout.pp * layout.dp;
                c.plan.name = "selftest";
                c.plan.model = model;
                c.plan.topology = topology;
                c.plan.workload.batch = 8;
                c.plan.workload.prompt = 12;
                c.plan.workload.generate = 6;
                c.plan.workload.dtype = c.plan.workload.kv_dtype = to_plan_dtype(dtype);
                c.plan.strategy.tensor_mode = layout.mode;
                c.plan.strategy.tensor_shape = layout.t > 1 ? std::vector<int>{layout.t} : std::vector<int>{};
                c.plan.strategy.lm_head = layout.head;
                c.plan.strategy.pp = layout.pp;
                c.plan.strategy.dp = layout.dp;
                c.plan.strategy.attention = layout.attention_dp ? AttentionMode::Data : AttentionMode::Heads;
                c.plan.strategy.ep = layout.ep;
                // A layout the planner rejects for this model (MoE replicas need experts
                // spanning them) is no case.
                if (!shard_geometry(model, c.plan.strategy, c.plan.workload).feasible())
                    continue;
                c.name = std::string(id) + " " + c.plan.strategy.label() + (c.emulated ? " (emulated)" : "") + " "
                         + to_string(dtype);
                cases.push_back(std::move(c));
                const SelftestCase base = cases.back();
                // The same layout without graphs: the eager decode path.
                if (layout.t == 2 && layout.mode == TensorMode::Megatron1D && dtype == GpuDType::F32 && !mesh
                    && !layout.attention_dp && !model.is_moe()) { // MoE steps are never graph-captured
                    SelftestCase eager = base;
                    eager.graphs = false;
                    eager.name += " graphs off";
                    cases.push_back(std::move(eager));
                }
                // Real GPUs driven from one host thread in lockstep, against the default of a
                // thread per GPU.
                if (!base.emulated && dtype == GpuDType::F32 && std::string(id) == "tiny-dense" && layout.t == 2
                    && !mesh && !layout.attention_dp && layout.mode == TensorMode::Megatron1D) {
                    SelftestCase lockstep = base;
                    lockstep.thread_per_gpu = false;
                    lockstep.name += " one host thread";
                    cases.push_back(std::move(lockstep));
                }
                // Overlap in fp32, where a wrong stream order shows as a wrong token: Megatron
                // TP2 / TP8 (chunked all-reduces, graph-captured decode), TP2+SP (collectives on
                // the communication stream) and pipelines of TP2 groups, with and without SP.
                if (dtype == GpuDType::F32 && std::string(id) == "tiny-dense" && layout.t > 1 && !layout.attention_dp
                    && layout.head == LmHeadMode::DistributedArgmax && layout.dp == 1) {
                    SelftestCase overlapped = base;
                    overlapped.overlap = true;
                    overlapped.name += " overlap";
                    cases.push_back(std::move(overlapped));
                }
            }
            // 2D / 2.5D / 3D grids on the dense models (the planner models MoE layers in 1D
            // only), where the shapes divide; fp32 tiny-dense once more under --overlap
            // (SUMMA's double-buffered broadcasts; the other grids' collectives on their own
            // streams).
            for (const GridLayout& grid : grids) {
                const ModelSpec model = selftest_model(id);
                if (model.is_moe() || grid.pp > model.layers)
                    continue;
                SelftestCase c;
                c.dtype = dtype;
                c.emulated = gpus < grid.pp * grid_size(grid.shape);
                c.plan.name = "selftest";
                c.plan.model = model;
                c.plan.topology = grid.pp * grid_size(grid.shape) > 8 ? two_nodes : topology;
                c.plan.workload.batch = grid.batch;
                c.plan.workload.prompt = 12;
                c.plan.workload.generate = 6;
                c.plan.workload.dtype = c.plan.workload.kv_dtype = to_plan_dtype(dtype);
                c.plan.strategy.tensor_mode = grid.mode;
                c.plan.strategy.tensor_shape = grid.shape;
                c.plan.strategy.lm_head = grid.head;
                c.plan.strategy.pp = grid.pp;
                if (!shard_geometry(model, c.plan.strategy, c.plan.workload).feasible())
                    continue;
                c.name = std::string(id) + " " + c.plan.strategy.label() + (c.emulated ? " (emulated)" : "") + " "
                         + to_string(dtype);
                cases.push_back(c);
                if (dtype == GpuDType::F32 && std::string(id) == "tiny-dense") {
                    c.overlap = true;
                    c.name += " overlap";
                    cases.push_back(std::move(c));
                }
            }
        }
    }
    return cases;
}

GpuRunOptions selftest_run_options(const SelftestCase& test)
{
    GpuRunOptions options;
    options.dtype = test.dtype;
    options.emulated = test.emulated;
    options.graphs = test.graphs;
    options.overlap = test.overlap;
    options.thread_per_gpu = test.thread_per_gpu;
    return options;
}

SelftestResult run_selftest_case(const SelftestCase& test, const ReferenceForward& reference)
{
    static std::map<std::string, std::unique_ptr<run::ModelWeights>> weights_cache;
    static std::map<std::string, std::vector<run::StepOutput>> reference_cache;
    SelftestResult result;
    result.test = test;
    result.limit = tolerance(test.dtype);
    try {
        const std::string id = test.plan.model.id;
        const std::string key = id + "/" + std::to_string(test.plan.workload.batch) + "/"
                                + std::to_string(test.plan.workload.prompt) + "/"
                                + std::to_string(test.plan.workload.generate);
        auto& weights = weights_cache[id];
        if (!weights)
            weights = std::make_unique<run::ModelWeights>(test.plan.model, kSelftestWeightSeed);
        auto it = reference_cache.find(key);
        if (it == reference_cache.end())
            it = reference_cache.emplace(key, reference(test.plan, *weights)).first;
        const GpuRunResult run = run_gpu(test.plan, *weights, selftest_run_options(test));
        const Estimate predicted =
            estimate(test.plan.model, test.plan.strategy, test.plan.topology, test.plan.workload);
        const run::RunCheck check = check_gpu_run(run, it->second, predicted);
        for (std::size_t step = 0; step < run.run.steps.size() && step < it->second.size(); ++step) {
            const auto& got = run.run.steps[step];
            const auto& want = it->second[step];
            double diff = 0, norm = 0;
            for (std::size_t i = 0; i < want.hidden.size(); ++i) {
                diff += (double(got.hidden[i]) - want.hidden[i]) * (double(got.hidden[i]) - want.hidden[i]);
                norm += double(want.hidden[i]) * want.hidden[i];
            }
            int differ = 0;
            for (std::size_t b = 0; b < want.next_tokens.size(); ++b)
                differ += got.next_tokens[b] != want.next_tokens[b] ? 1 : 0;
            char text[96];
            std::snprintf(text, sizeof(text), "%s%zu:%.1e/%d", step ? " " : "", step, std::sqrt(diff / norm), differ);
            result.detail += text;
        }
        result.max_relative_error = check.max_relative_error;
        result.tokens_match = check.tokens_match;
        result.traffic_exact = check.traffic_differences.empty();
        if (!result.traffic_exact)
            result.error = "collectives differ from the planner: " + check.traffic_differences.front();
        // fp32 must pick the same tokens; bf16/fp16 may pick another near-tie token, after
        // which the error is only measured up to that step.
        result.passed = result.max_relative_error < result.limit && result.traffic_exact
                        && (test.dtype != GpuDType::F32 || result.tokens_match);
    } catch (const std::exception& e) {
        result.error = e.what();
        result.passed = false;
    }
    return result;
}

OrderedJson to_json(const SelftestResult& r)
{
    OrderedJson j;
    j["case"] = r.test.name;
    j["dtype"] = to_string(r.test.dtype);
    j["ranks"] = r.test.plan.strategy.devices();
    j["emulated"] = r.test.emulated;
    j["graphs"] = r.test.graphs;
    j["overlap"] = r.test.overlap;
    j["host_threads"] = r.test.emulated ? "one" : r.test.thread_per_gpu ? "per-gpu" : "one";
    j["passed"] = r.passed;
    j["max_rel_error"] = r.max_relative_error;
    j["limit"] = r.limit;
    j["tokens_match"] = r.tokens_match;
    j["traffic_exact"] = r.traffic_exact;
    if (!r.error.empty())
        j["error"] = r.error;
    j["steps"] = r.detail;
    return j;
}

} // namespace shard::cuda
