// CPU reference executor benchmark.
//
//   build/default/bin/bench_cpu_executor
#include "cpu/cpu_executor.h"
#include "cpu/inprocess_communicator.h"

#include "core/presets.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

using namespace shard;
using Clock = std::chrono::steady_clock;

namespace {

ModelSpec bench_model()
{
    ModelSpec m;
    m.id = "bench-1024";
    m.name = "4-layer, hidden-1024 benchmark model";
    m.family = "llama";
    m.layers = 4;
    m.hidden = 1024;
    m.heads = 16;
    m.kv_heads = 8;
    m.head_dim = 64;
    m.ffn = 2816;
    m.vocab = 32000;
    m.max_context = 4096;
    m.dtype = DType::FP32;
    return m;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

void bench_prefill()
{
    Plan plan;
    plan.name = "bench";
    plan.model = bench_model();
    plan.topology = PresetLibrary::instance().topology("dgx-h100");
    plan.workload.batch = 1;
    plan.workload.prompt = 128;
    plan.workload.generate = 0;
    plan.workload.phase = Phase::Prefill;
    plan.workload.dtype = DType::FP32;
    plan.strategy.tensor_mode = TensorMode::Megatron1D;
    plan.strategy.tensor_shape = {8};
    const run::ModelWeights weights(plan.model, 1);
    std::vector<double> seconds;
    run::RunResult last;
    for (int i = 0; i < 5; ++i) {
        last = cpu::run_cpu(plan, weights);
        seconds.push_back(last.seconds);
    }
    std::int64_t bytes = 0;
    double comm = 0;
    for (const auto& r : last.logs[0].records) {
        bytes += r.received;
        comm += r.seconds;
    }
    std::printf(
        "8-rank Megatron TP8 prefill, 128 tokens, 4 layers, hidden 1024 (%.1f M params): median %.3f s over 5 runs"
        " (rank 0: %zu collectives, %.2f MiB received, %.3f s in collectives)\n",
        plan.model.total_params() / 1e6, median(seconds), last.logs[0].records.size(), bytes / 1048576.0, comm);
}

void bench_allreduce(int ranks, std::int64_t floats)
{
    InProcessWorld world(ranks);
    std::vector<int> members(ranks);
    for (int r = 0; r < ranks; ++r)
        members[r] = r;
    std::vector<std::unique_ptr<InProcessCommunicator>> comms;
    for (int r = 0; r < ranks; ++r)
        comms.push_back(std::make_unique<InProcessCommunicator>(world, 0, "bench", members, r));
    std::vector<std::vector<float>> data(ranks, std::vector<float>(std::size_t(floats), 1.0f));
    const int repeats = 5;
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r)
        threads.emplace_back([&, r] {
            for (int i = 0; i < repeats; ++i)
                comms[r]->all_reduce(data[r]);
        });
    for (auto& t : threads)
        t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count() / repeats;
    const double size = double(floats) * 4;
    const double algbw = size / seconds / 1e9;
    std::printf("in-process ring AllReduce, %d ranks, %.0f MiB: %.2f ms, algbw %.2f GB/s, busbw %.2f GB/s\n", ranks,
                size / 1048576.0, seconds * 1e3, algbw, algbw * 2.0 * (ranks - 1) / ranks);
}

} // namespace

int main()
{
    bench_prefill();
    bench_allreduce(8, 1 << 22);
    bench_allreduce(2, 1 << 22);
    return 0;
}
