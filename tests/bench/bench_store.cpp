// Run store benchmark: ingesting 10,000 runs of 200 ops each, then listing and comparing them.
//
//   build/default/bin/bench_store [DB]      (default /tmp/shardstudio-bench-runs.db, recreated)
#include "bench_runs.h"
#include "store/run_store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

using namespace shard;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point start)
{
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

} // namespace

int main(int argc, char** argv)
{
    const std::string path = argc > 1 ? argv[1] : "/tmp/shardstudio-bench-runs.db";
    for (const char* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(path + suffix);
    const int runs = 10000;
    const int ops = 200;
    auto start = Clock::now();
    {
        RunStore store(path);
        for (int r = 0; r < runs; ++r) {
            bench::ingest_bench_start(store, r);
            for (int i = 0; i < ops; ++i)
                store.ingest(Json{{"v", 1},
                                  {"event", "op"},
                                  {"rank", i % 8},
                                  {"step", 1 + i / 40},
                                  {"layer", i % 4},
                                  {"op", "qkv_proj"},
                                  {"kind", i % 2 ? "qkv" : "mlp_up"},
                                  {"us", 10.0 + i}});
            store.ingest(Json{{"v", 1},
                              {"event", "result"},
                              {"measured", {{"ttft_ms", 1.0}, {"tpot_ms", 2.0 + r % 7}}},
                              {"predicted", {{"ttft_ms", 0.5}, {"tpot_ms", 1.5}}}});
        }
    }
    const double ingest_ms = ms_since(start);
    RunStore store(path, SqliteDb::Mode::ReadOnly);
    std::vector<double> list_ms;
    std::size_t listed = 0;
    for (int i = 0; i < 10; ++i) {
        start = Clock::now();
        listed = store.list().size();
        list_ms.push_back(ms_since(start));
    }
    std::vector<double> compare_ms;
    for (int i = 0; i < 10; ++i) {
        start = Clock::now();
        std::map<std::string, double> totals;
        for (const std::int64_t id : {11, 2222, 4444, 7777, 9999}) {
            (void)store.get(id);
            Statement s = store.db().prepare(
                "SELECT kind, sum(us) / max(1, count(DISTINCT step) * count(DISTINCT rank)) FROM op_measurements "
                "WHERE run_id = ? AND step > 0 GROUP BY kind");
            s.bind(1, std::int64_t(id));
            while (s.step())
                totals[s.text(0)] += s.real(1);
        }
        compare_ms.push_back(ms_since(start));
    }
    std::sort(list_ms.begin(), list_ms.end());
    std::sort(compare_ms.begin(), compare_ms.end());
    const auto size = std::filesystem::file_size(path);
    std::printf("ingest %d runs x %d op rows: %.1f s\n", runs, ops, ingest_ms / 1000.0);
    std::printf("history list (all %zu runs): median %.2f ms over 10\n", listed, list_ms[5]);
    std::printf("history compare of 5 runs: median %.2f ms over 10\n", compare_ms[5]);
    std::printf("database size: %.1f MiB (%.0f bytes per op row)\n", double(size) / 1048576.0,
                double(size) / (double(runs) * ops));
    return 0;
}
