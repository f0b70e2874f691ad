// Planner benchmark. Prints the timings that
// BENCHMARKS.md records; timing targets live here, never in the test suite.
//
//   build/default/bin/bench_planner
#include "planner/planner.h"

#include "core/presets.h"

#include "bench_timing.h"

#include <algorithm>
#include <cstdio>
#include <vector>

using namespace shard;
using shard::bench::median_ms;

namespace {

void report(const char* name, const ModelSpec& m, const Topology& t, const Workload& w, int runs)
{
    PlanResult result;
    const double ms = median_ms(runs, [&] { result = plan_candidates(m, t, w); });
    std::printf("%-52s %5d GPUs  %6zu candidates  %5d feasible  median %8.2f ms over %d runs\n", name, t.total_gpus(),
                result.candidates.size(), result.feasible, ms, runs);
}

} // namespace

int main()
{
    const auto& library = PresetLibrary::instance();
    Workload w;
    w.batch = 64;
    w.prompt = 2048;
    w.generate = 256;

    Topology cluster = library.topology("16x-dgx-h100");
    cluster.id = "128x-dgx-h100";
    cluster.nodes = 128;
    Workload big = w;
    big.batch = 4096;
    report("DeepSeek-V3, full enumeration, 128 x DGX H100", library.model("deepseek-v3"), cluster, big, 5);
    report("Llama-3.1-70B replan, DGX H100", library.model("llama-3.1-70b"), library.topology("dgx-h100"), w, 200);
    report("Mixtral-8x22B replan, 4 x DGX H100", library.model("mixtral-8x22b"), library.topology("4x-dgx-h100"), w,
           50);
    return 0;
}
