#include "launch_export.h"

#include "trace_export.h"

#include "core/units.h"
#include "planner/serving_export.h"

#include <algorithm>
#include <cmath>

namespace shard::serving {

namespace {

// A length as the benchmarks' random datasets draw it: a mean and a range ratio (uniform
// in mean x [1 - ratio, 1 + ratio]).
struct RandomLength {
    int mean = 1;
    double ratio = 0;
    bool exact = true;
};

RandomLength random_length(const LengthDistribution& d)
{
    switch (d.kind) {
    case LengthDistribution::Kind::Fixed:
        return {int(d.a), 0, true};
    case LengthDistribution::Kind::Uniform:
        return {int(std::lround((d.a + d.b) / 2)), (d.b - d.a) / (d.b + d.a), true};
    case LengthDistribution::Kind::Lognormal:
        break;
    }
    return {int(std::lround(d.a)), 0.5, false};
}

std::string traffic_flags(const TrafficSpec& t, bool vllm, std::vector<std::string>& notes)
{
    RandomLength in = random_length(t.prompt);
    const RandomLength out = random_length(t.output);
    std::string flags;
    if (t.shared_prefix > 0) {
        if (vllm) { // its random prompts are a shared prefix plus the random part
            flags += " --random-prefix-len " + std::to_string(t.shared_prefix);
            in.mean = std::max(1, in.mean - t.shared_prefix);
        }
        if (!vllm || t.prefix_groups > 1)
            notes.push_back("the benchmark's random prompts do not share the simulated "
                            + std::to_string(t.prefix_groups) + " prefixes of " + std::to_string(t.shared_prefix)
                            + " tokens; the exact replay (AIPerf) does");
    }
    flags = " --dataset-name random" + flags + " --random-input-len " + std::to_string(in.mean)
            + " --random-output-len " + std::to_string(out.mean);
    // One range ratio covers both lengths in these benchmarks.
    const double ratio = std::max(in.ratio, out.ratio);
    if (ratio > 0)
        flags += " --random-range-ratio " + format_fixed(ratio, 2);
    if (in.ratio != out.ratio)
        notes.push_back("the benchmark draws prompt and output lengths with one range ratio: the simulated ones "
                        "differ in spread");
    if (!in.exact || !out.exact)
        notes.push_back("lognormal lengths are replayed as uniform around their mean (range ratio 0.5)");
    flags += " --num-prompts " + std::to_string(t.requests) + " --seed " + std::to_string(t.seed);
    switch (t.arrivals.kind) {
    case Arrivals::Kind::Poisson:
        flags += " --request-rate " + format_fixed(t.arrivals.rate, 3);
        break;
    case Arrivals::Kind::Gamma:
        flags += " --request-rate " + format_fixed(t.arrivals.rate, 3);
        if (vllm) // vLLM's factor is the gamma shape: 1 / cv^2
            flags += " --burstiness " + format_fixed(1.0 / (t.arrivals.burstiness * t.arrivals.burstiness), 4);
        else
            notes.push_back("the command sets no burstiness: it sends Poisson arrivals, not the simulated bursts");
        break;
    case Arrivals::Kind::Concurrency:
        flags += " --request-rate inf --max-concurrency " + std::to_string(t.arrivals.users);
        break;
    }
    return flags;
}

} // namespace

std::vector<LaunchCommands> launch_commands(const Plan& replica, int replicas, const SchedulerLimits& limits,
                                            const TrafficSpec& traffic, const std::string& trace,
                                            const std::string& replay_file)
{
    std::vector<LaunchCommands> all;
    const std::string model =
        "<" + (replica.model.id.empty() ? std::string("model") : replica.model.id) + "-checkpoint>";
    for (const std::string& engine : supported_serving_engines()) {
        const ServingExport e = export_for_serving(replica, engine);
        LaunchCommands c;
        c.engine = engine;
        c.notes = e.caveats;
        c.serve = e.command;
        const std::string seqs = std::to_string(limits.max_seqs), tokens = std::to_string(limits.max_batched_tokens);
        if (engine == "vllm") {
            c.serve += " --max-num-seqs " + seqs + " --max-num-batched-tokens " + tokens + " --block-size "
                       + std::to_string(limits.block_size)
                       + (limits.chunked_prefill ? " --enable-chunked-prefill" : " --no-enable-chunked-prefill")
                       + (limits.prefix_caching ? " --enable-prefix-caching" : " --no-enable-prefix-caching");
            c.benchmark = "vllm bench serve --backend vllm --model " + model + traffic_flags(traffic, true, c.notes)
                          + " --percentile-metrics ttft,tpot,e2el --metric-percentiles 50,90,99";
        } else if (engine == "sglang") {
            c.serve += " --max-running-requests " + seqs + " --chunked-prefill-size "
                       + (limits.chunked_prefill ? tokens : std::string("-1")) + " --page-size "
                       + std::to_string(limits.block_size) + (limits.prefix_caching ? "" : " --disable-radix-cache");
            c.benchmark = "python -m sglang.bench_serving --backend sglang --model " + model
                          + traffic_flags(traffic, false, c.notes);
        } else {
            c.serve += " --max_batch_size " + seqs + " --max_num_tokens " + tokens;
            c.benchmark = "python -m tensorrt_llm.serve.scripts.benchmark_serving --backend openai --model " + model
                          + traffic_flags(traffic, false, c.notes);
            if (!limits.chunked_prefill)
                c.notes.push_back("trtllm-serve prefills whole prompts unless chunked prefill is enabled in its "
                                  "LLM API options; nothing to add here");
            else
                c.notes.push_back("chunked prefill: enable_chunked_prefill: true in the --extra_llm_api_options "
                                  "file");
            c.notes.push_back(std::string("prefix caching: kv_cache_config: enable_block_reuse: ")
                              + (limits.prefix_caching ? "true" : "false") + " in the --extra_llm_api_options file");
        }
        if (replicas > 1)
            c.notes.push_back("start " + std::to_string(replicas)
                              + " of these servers (one per replica's GPUs) behind a load balancer that hands "
                                "requests out in turn"
                              + (limits.prefix_caching
                                     ? std::string(", keeping a shared prefix on the server that has it cached "
                                                   "(as sglang_router's cache_aware policy),")
                                     : std::string())
                              + " and point the benchmark at the balancer");
        if (!replay_file.empty())
            c.replay = "aiperf profile --model " + model + " --url localhost:" + (engine == "sglang" ? "30000" : "8000")
                       + " --endpoint-type completions --streaming --input-file " + replay_file
                       + " --custom-dataset-type mooncake_trace --fixed-schedule --isl-block-size "
                       + std::to_string(kReplayBlockTokens);
        if (!trace.empty())
            c.notes.push_back("the simulated traffic came from " + trace
                              + ": the engine's benchmark sends its rate and " + "mean lengths"
                              + (replay_file.empty()
                                     ? std::string(", not its exact arrivals (--replay-file writes "
                                                   "them for AIPerf)")
                                     : std::string("; the AIPerf replay sends the requests themselves")));
        all.push_back(std::move(c));
    }
    return all;
}

std::vector<LaunchCommands> disaggregated_launch_commands(const Plan& prefill, int prefill_replicas, const Plan& decode,
                                                          int decode_replicas, const SchedulerLimits& limits,
                                                          const TrafficSpec& traffic, const std::string& trace,
                                                          const std::string& replay_file)
{
    const auto p = launch_commands(prefill, prefill_replicas, limits, traffic, trace, replay_file);
    const auto d = launch_commands(decode, decode_replicas, limits, traffic, trace, replay_file);
    std::vector<LaunchCommands> all;
    const std::string pools =
        std::to_string(prefill_replicas) + " prefill and " + std::to_string(decode_replicas) + " decode servers";
    // Pools of two GPU kinds: which nodes each server starts on.
    const bool two_kinds = prefill.topology.gpu.name != decode.topology.gpu.name;
    auto on = [&](const Plan& pool) {
        return two_kinds ? " on the " + pool.topology.gpu.name + " nodes (" + pool.topology.name + ")" : std::string();
    };
    const std::string prefill_on = on(prefill), decode_on = on(decode);
    for (std::size_t i = 0; i < p.size(); ++i) {
        LaunchCommands c;
        c.engine = p[i].engine;
        c.benchmark = d[i].benchmark; // the clients talk to the router
        c.replay = d[i].replay;
        if (c.engine == "vllm") {
            const std::string kv = R"( --kv-transfer-config '{"kv_connector":"NixlConnector","kv_role":"kv_both"}')";
            c.serve =
                "# prefill" + prefill_on + "\n" + p[i].serve + kv + "\n# decode" + decode_on + "\n" + d[i].serve + kv;
            c.notes.push_back("vLLM has no router of its own for disaggregated serving: put its disaggregated "
                              "proxy example (or llm-d) in front of the "
                              + pools + " and point the benchmark at it");
        } else if (c.engine == "sglang") {
            const std::string kv = " --disaggregation-transfer-backend nixl";
            c.serve = "# prefill" + prefill_on + "\n" + p[i].serve + " --disaggregation-mode prefill" + kv
                      + "\n# decode" + decode_on + "\n" + d[i].serve + " --disaggregation-mode decode" + kv
                      + "\n# router\npython -m sglang_router.launch_router --pd-disaggregation --prefill "
                        "http://PREFILL_HOST:30000 --decode http://DECODE_HOST:30000";
            c.notes.push_back("start the " + pools + " and list every one of them to the router");
        } else {
            c.serve = "# context (prefill) servers" + prefill_on + "\n" + p[i].serve + "\n# generation (decode) servers"
                      + decode_on + "\n" + d[i].serve + "\n# router\ntrtllm-serve disaggregated -c disagg.yaml";
            c.notes.push_back("disagg.yaml lists the context_servers and generation_servers (" + pools
                              + "); each server needs a cache_transceiver_config in its --extra_llm_api_options");
        }
        for (const auto* side : {&p[i], &d[i]})
            for (const auto& note : side->notes)
                if (note.rfind("start ", 0) != 0 && std::find(c.notes.begin(), c.notes.end(), note) == c.notes.end())
                    c.notes.push_back(note);
        all.push_back(std::move(c));
    }
    return all;
}

std::string LaunchCommands::text() const
{
    std::string out = serve + "\n\n" + benchmark + "\n";
    if (!replay.empty())
        out += "\n# the simulated requests themselves, at their arrival times\n" + replay + "\n";
    for (const auto& note : notes)
        out += "\nnote: " + note + "\n";
    return out;
}

std::vector<LaunchCommands> deployment_launch_commands(const ModelSpec& model, const Workload& base,
                                                       const DeploymentOption& option,
                                                       const std::vector<Request>& requests, const TrafficSpec& traffic,
                                                       const std::string& trace, const std::string& replay_file)
{
    Plan replica;
    replica.model = model;
    replica.topology = option.machine;
    replica.strategy = option.layout;
    replica.workload = base;
    int longest = 2;
    for (const auto& r : requests)
        longest = std::max(longest, r.prompt + r.output);
    replica.workload.prompt = longest - 1;
    replica.workload.generate = 1;
    if (!option.prefill_layout)
        return launch_commands(replica, option.replicas, option.limits, traffic, trace, replay_file);
    Plan prefill = replica;
    prefill.strategy = *option.prefill_layout;
    prefill.topology = option.prefill_machine;
    return disaggregated_launch_commands(prefill, option.prefill_replicas, replica, option.replicas, option.limits,
                                         traffic, trace, replay_file);
}

} // namespace shard::serving
