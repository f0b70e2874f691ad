#include "gpu_bench.h"

#include "device_collectives.h"
#include "device_resources.h"
#include "gpu_blas.h"
#include "gpu_model.h"
#include "kernels.h"

#include "core/presets.h"
#include "core/units.h"
#include "cost/estimate.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

namespace shard::cuda {

namespace {

double median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

std::string fixed(double v, int digits)
{
    return format_fixed(v, digits);
}

ModelSpec layer_model()
{
    ModelSpec m = PresetLibrary::instance().model("llama-3.1-70b");
    m.layers = 1;
    m.vocab = 1024; // the layer is what is measured; embedding and head stay negligible
    return m;
}

Plan layer_plan(const ModelSpec& model, int t, int batch, int prompt, int generate)
{
    Plan plan;
    plan.name = "bench";
    plan.model = model;
    plan.topology = PresetLibrary::instance().topology("dgx-h100");
    plan.workload.batch = batch;
    plan.workload.prompt = prompt;
    plan.workload.generate = generate;
    plan.workload.dtype = plan.workload.kv_dtype = DType::BF16;
    plan.strategy.tensor_mode = t > 1 ? TensorMode::Megatron1D : TensorMode::None;
    plan.strategy.tensor_shape = t > 1 ? std::vector<int>{t} : std::vector<int>{};
    return plan;
}

// Sum of each rank's layer ops (layer >= 0) of its last `steps` steps, median over steps,
// slowest rank; per op of rank 0 the median.
struct LayerTimes {
    double compute_ms = 0;
    std::map<std::string, double> op_ms;
};

LayerTimes layer_times(const GpuModel& model, int first_step)
{
    LayerTimes out;
    std::map<std::string, std::vector<double>> per_op;
    for (int r = 0; r < model.ranks(); ++r) {
        std::map<int, double> per_step;
        for (const auto& op : model.log(r).ops) {
            if (op.step < first_step || op.layer < 0)
                continue;
            per_step[op.step] += op.us / 1000.0;
            if (r == 0)
                per_op[op.name].push_back(op.us / 1000.0);
        }
        std::vector<double> sums;
        for (const auto& [s, v] : per_step)
            sums.push_back(v);
        out.compute_ms = std::max(out.compute_ms, median(sums));
    }
    for (auto& [name, v] : per_op)
        out.op_ms[name] = median(v);
    return out;
}

} // namespace

OrderedJson run_bench(const BenchOptions& options, std::string& report)
{
    OrderedJson result;
    std::ostringstream md;
    DeviceGuard guard(0);
    std::cerr << "bench: copy bandwidth and cuBLAS rate\n";
    cudaDeviceProp prop{};
    SHARD_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    result["gpu"] = prop.name;
    Stream stream(0);
    const cudaStream_t s = stream.get();
    const int reps = options.quick ? 3 : 20;

    // Device copy bandwidth (bytes read + written) and the bf16 cuBLAS rate.
    const std::size_t copy_bytes = std::size_t(1) << 30;
    double copy_tbps = 0, gemm_tflops = 0;
    {
        DeviceMemory a(copy_bytes, 0, "bench"), b(copy_bytes, 0, "bench");
        const double ms = time_ms(s, reps, [&] {
            SHARD_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), copy_bytes, cudaMemcpyDeviceToDevice, s));
        });
        copy_tbps = 2.0 * double(copy_bytes) / (ms / 1e3) / 1e12;
        const std::int64_t n = 8192;
        DeviceMemory x(std::size_t(n * n * 2), 0, "bench"), w(std::size_t(n * n * 2), 0, "bench"),
            y(std::size_t(n * n * 2), 0, "bench");
        SHARD_CUDA_CHECK(cudaMemsetAsync(x.data(), 0x3c, std::size_t(n * n * 2), s));
        SHARD_CUDA_CHECK(cudaMemsetAsync(w.data(), 0x3c, std::size_t(n * n * 2), s));
        BlasHandle blas(0, s);
        const double gms =
            time_ms(s, reps, [&] { gemm(blas.get(), GpuDType::BF16, x.data(), w.data(), y.data(), n, n, n); });
        gemm_tflops = 2.0 * double(n) * n * n / (gms / 1e3) / 1e12;
    }
    result["copy_tbps"] = copy_tbps;
    result["gemm_bf16_tflops"] = gemm_tflops;
    md << "Device: " << prop.name << ". Device-to-device copy " << fixed(copy_tbps, 2)
       << " TB/s (read + write), bf16 cuBLAS 8192^3 " << fixed(gemm_tflops, 0) << " TFLOP/s.\n\n";

    // The Llama-3.1-70B-shaped layer.
    const ModelSpec model = layer_model();
    std::cerr << "bench: generating the Llama-3.1-70B layer's weights\n";
    const run::ModelWeights weights(model, 7, false);
    const std::int64_t h = model.hidden;
    const std::int64_t d = model.head_dim;
    const int ctx = 1024;
    struct Case {
        const char* name;
        int batch, T;
    };
    std::vector<Case> cases{{"decode b1", 1, 1}, {"decode b8", 8, 1}, {"decode b64", 64, 1}, {"prefill 2048", 1, 2048}};
    std::vector<int> tps{1, 2, 4, 8};
    if (options.quick) {
        cases = {{"decode b8", 8, 1}, {"prefill 2048", 1, 2048}};
        tps = {1, 2};
    }
    OrderedJson layers = OrderedJson::array();
    OrderedJson gemms = OrderedJson::array();
    md << "| layer step | TP | measured compute ms (eager, per rank) | with CUDA graph ms | predicted ms | error | "
          "floor ms | "
          "floor / measured |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
    std::ostringstream gemm_md;
    gemm_md << "| layer step | TP | op | engine ms | standalone cuBLAS ms | standalone / engine "
               "|\n|---|---:|---|---:|---:|---:|\n";
    for (const int t : tps) {
        // One model per TP size, sized for the largest case; each case runs its sequences.
        GpuModelOptions mo;
        mo.dtype = GpuDType::BF16;
        mo.emulated = true;
        mo.graphs = true;
        mo.batch = 64;
        mo.max_rows = 2048;
        mo.max_seq_tokens = 2048; // the prefill case runs one sequence of 2048 tokens
        mo.max_context = 2048 + 8;
        std::cerr << "bench: building the layer for TP " << t << "\n";
        GpuModel gm(weights, layer_plan(model, t, 64, 2048, 8), mo);
        for (const Case& c : cases) {
            std::cerr << "bench: " << c.name << " TP " << t << "\n";
            const bool prefill = c.T > 1;
            const Plan plan = layer_plan(model, t, c.batch, prefill ? c.T : ctx, 1);
            const std::vector<std::int64_t> tokens(std::size_t(c.batch) * c.T, 1);
            const int steps = options.quick ? 3 : 7;
            const int first_step = gm.log(0).step + 2; // two warm-up steps
            for (int i = 0; i < steps; ++i) {
                if (prefill)
                    gm.step(tokens, 0, c.T, true, c.batch);
                else
                    gm.step({}, ctx, 1, true, c.batch);
            }
            const LayerTimes eager = layer_times(gm, first_step);
            double graph_ms = 0;
            if (!prefill) {
                std::vector<double> g;
                for (int i = 0; i < reps; ++i) {
                    gm.step({}, ctx, 1, false, c.batch);
                    g.push_back(gm.last_step_gpu_ms() / t);
                }
                graph_ms = median(g);
            }
            const Estimate est = estimate(plan.model, plan.strategy, plan.topology, plan.workload);
            const PhaseCost& phase = prefill ? est.prefill : est.decode;
            const BlockCost* block = phase.block("dense layer");
            const double predicted_ms = block ? block->compute_us() / 1000.0 : 0.0;
            // Floors: decode reads the layer's weights and KV cache once; prefill does the
            // GEMM FLOPs at the measured cuBLAS rate.
            const std::int64_t qw = model.heads / t * d, kw = std::max(1, model.kv_heads / t) * d, fl = model.ffn / t;
            const double weight_bytes = 2.0 * double(h * (qw + 2 * kw) + qw * h + h * 2 * fl + fl * h);
            const double kv_bytes = 2.0 * 2.0 * double(c.batch) * (ctx + 1) * kw;
            const double rows = double(c.batch) * c.T;
            const double gemm_flops = 2.0 * rows * double(h * (qw + 2 * kw) + qw * h + h * 2 * fl + fl * h);
            const double floor_ms = prefill ? gemm_flops / (gemm_tflops * 1e12) * 1e3
                                            : (weight_bytes + kv_bytes) / (copy_tbps * 1e12) * 1e3;
            const double best = prefill ? eager.compute_ms : std::min(eager.compute_ms, graph_ms > 0 ? graph_ms : 1e30);
            OrderedJson row;
            row["case"] = c.name;
            row["tp"] = t;
            row["eager_ms"] = eager.compute_ms;
            row["graph_ms"] = graph_ms;
            row["predicted_ms"] = predicted_ms;
            row["floor_ms"] = floor_ms;
            row["ops_ms"] = eager.op_ms;
            layers.push_back(row);
            md << "| " << c.name << " | " << t << " | " << fixed(eager.compute_ms, 3) << " | "
               << (prefill ? std::string("-") : fixed(graph_ms, 3)) << " | " << fixed(predicted_ms, 3) << " | "
               << fixed((predicted_ms - best) / best * 100.0, 1) << " % | " << fixed(floor_ms, 3) << " | "
               << fixed(floor_ms / best, 2) << " |\n";

            // Each sharded GEMM against standalone cuBLAS on the same shape.
            struct Shape {
                const char* op;
                std::int64_t k, n;
            };
            const std::int64_t M = c.batch * std::int64_t(c.T);
            const std::vector<Shape> shapes{
                {"qkv_proj", h, qw + 2 * kw}, {"o_proj", qw, h}, {"gate_up", h, 2 * fl}, {"down", fl, h}};
            BlasHandle blas(0, s);
            std::map<std::string, double> alone;
            for (const Shape& sh : shapes) {
                DeviceMemory x(std::size_t(M * sh.k * 2), 0, "bench"), w(std::size_t(sh.k * sh.n * 2), 0, "bench"),
                    y(std::size_t(M * sh.n * 2), 0, "bench");
                alone[sh.op] = time_ms(
                    s, reps, [&] { gemm(blas.get(), GpuDType::BF16, x.data(), w.data(), y.data(), M, sh.k, sh.n); });
            }
            const std::vector<std::pair<std::string, double>> pairs{{"qkv_proj", alone["qkv_proj"]},
                                                                    {"o_proj", alone["o_proj"]},
                                                                    {"mlp", alone["gate_up"] + alone["down"]}};
            for (const auto& [op, standalone] : pairs) {
                const double engine = eager.op_ms.count(op) ? eager.op_ms.at(op) : 0.0;
                gemms.push_back(
                    {{"case", c.name}, {"tp", t}, {"op", op}, {"engine_ms", engine}, {"cublas_ms", standalone}});
                gemm_md << "| " << c.name << " | " << t << " | " << (op == "mlp" ? "mlp (2 GEMMs + activation)" : op)
                        << " | " << fixed(engine, 4) << " | " << fixed(standalone, 4) << " | "
                        << fixed(standalone / engine, 3) << " |\n";
            }
        }
    }
    result["layer"] = layers;
    result["gemms"] = gemms;
    md << "\n" << gemm_md.str();

    // Emulated collectives against a device copy of the same bytes.
    OrderedJson coll = OrderedJson::array();
    md << "\n| emulated AllReduce | ranks | size | ms | algbw GB/s | busbw GB/s | D2D copy of the size GB/s |\n"
          "|---|---:|---:|---:|---:|---:|---:|\n";
    for (const std::int64_t bytes : {std::int64_t(1) << 20, std::int64_t(16) << 20, std::int64_t(128) << 20}) {
        for (const int n : {2, 4, 8}) {
            std::vector<DeviceMemory> bufs;
            std::vector<void*> ptrs;
            for (int r = 0; r < n; ++r) {
                bufs.emplace_back(std::size_t(bytes), 0, "bench");
                ptrs.push_back(bufs.back().data());
            }
            auto comm = make_emulated_collectives(0, s, n);
            const double ms = time_ms(s, reps, [&] { comm->all_reduce(ptrs, bytes / 2, GpuDType::BF16); });
            const double copy_ms = time_ms(s, reps, [&] {
                SHARD_CUDA_CHECK(cudaMemcpyAsync(ptrs[1], ptrs[0], std::size_t(bytes), cudaMemcpyDeviceToDevice, s));
            });
            const double algbw = double(bytes) / (ms / 1e3) / 1e9;
            const double busbw = algbw * 2.0 * (n - 1) / n;
            const double copy_gbps = double(bytes) / (copy_ms / 1e3) / 1e9;
            coll.push_back({{"ranks", n},
                            {"bytes", bytes},
                            {"ms", ms},
                            {"algbw", algbw},
                            {"busbw", busbw},
                            {"copy_gbps", copy_gbps}});
            md << "| AllReduce bf16 | " << n << " | " << format_bytes(double(bytes)) << " | " << fixed(ms, 3) << " | "
               << fixed(algbw, 0) << " | " << fixed(busbw, 0) << " | " << fixed(copy_gbps, 0) << " |\n";
        }
    }
    result["emulated_collectives"] = coll;
    report = md.str();
    return result;
}

} // namespace shard::cuda
