#pragma once

// The stored runs the store and studio benchmarks fill their databases with: four models in
// turn, each run started as the CLI starts one.
#include "store/run_store.h"

namespace shard::bench {

inline void ingest_bench_start(RunStore& store, int run)
{
    static const char* const models[] = {"llama-3.1-70b", "mixtral-8x7b", "deepseek-v3", "qwen2.5-72b"};
    store.ingest(Json{{"v", 1},
                      {"event", "start"},
                      {"plan", "bench"},
                      {"backend", "cpu"},
                      {"model", models[run % 4]},
                      {"topology", "dgx-h100"},
                      {"strategy", "TP8"},
                      {"environment", {{"host", "bench"}, {"engine_version", "0.1.0"}}}});
}

} // namespace shard::bench
