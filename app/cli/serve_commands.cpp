// `shardstudio-cli serve simulate`: a deployment (replicas of one layout) serving a traffic,
// simulated request by request on the cost model's step times.
#include "serve_options.h"

#include "core/error.h"
#include "core/plan.h"
#include "core/presets.h"
#include "core/strategy.h"
#include "core/units.h"
#include "planner/planner.h"
#include "serving/deployment_option.h"
#include "serving/disaggregated.h"
#include "serving/gpu_prices.h"
#include "serving/launch_export.h"
#include "serving/step_time.h"
#include "store/simulated_runs.h"

#include <iostream>
#include <memory>

namespace shard::cli {

namespace {

// The layout of one replica: the one named, else the planner's fastest single replica.
Strategy replica_layout(const ServeArgs& a, const ModelSpec& model, const Topology& topology, const Workload& w,
                        const Efficiency& efficiency)
{
    if (!a.strategy.empty()) {
        Strategy s = parse_strategy_text(a.strategy);
        s.validate(model.layers, topology.total_gpus());
        return s;
    }
    PlannerOptions options;
    options.efficiency = efficiency;
    for (const Candidate& c : plan_candidates(model, topology, w, options).candidates)
        if (c.estimate.feasible && c.strategy.dp == 1)
            return c.strategy;
    throw Error("no single-replica layout of " + model.name + " fits " + topology.name + ": name one with --strategy");
}

void simulate(const ServeArgs& a, const GlobalOptions& options)
{
    const auto& library = PresetLibrary::instance();
    const ModelSpec model = library.model(a.workload.model);
    const Topology topology = library.topology(a.workload.topology);
    const Workload w = a.workload.workload();
    const bool disaggregated = !a.prefill_strategy.empty();
    if (!a.prefill_topology.empty() && !disaggregated)
        throw Error("--prefill-topology places a prefill pool: give its layout with --prefill-strategy");
    const Topology prefill_machine = a.prefill_topology.empty() ? topology : library.topology(a.prefill_topology);
    std::vector<serving::Machine> machines{{topology, planner_efficiency(topology.gpu, a.workload.tables)}};
    if (prefill_machine != topology)
        machines.push_back({prefill_machine, planner_efficiency(prefill_machine.gpu, a.workload.tables)});
    const Strategy layout = replica_layout(a, model, topology, w, machines.front().efficiency);
    const Strategy prefill_layout = disaggregated ? parse_strategy_text(a.prefill_strategy) : Strategy{};
    const int prefill_gpus = disaggregated ? a.prefill_replicas * prefill_layout.devices() : 0;
    const int replicas =
        a.replicas > 0 ? a.replicas : (disaggregated ? 1 : std::max(1, topology.total_gpus() / layout.devices()));
    const int decode_gpus = replicas * layout.devices();
    const bool shared = prefill_machine == topology;
    if (shared ? prefill_gpus + decode_gpus > topology.total_gpus() : decode_gpus > topology.total_gpus())
        throw Error((disaggregated && shared
                         ? std::to_string(a.prefill_replicas) + " prefill replicas of " + prefill_layout.label()
                               + " and " + std::to_string(replicas) + " decode replicas of " + layout.label()
                         : std::to_string(replicas) + " replicas of " + layout.label())
                    + " need " + std::to_string(shared ? prefill_gpus + decode_gpus : decode_gpus) + " GPUs, "
                    + topology.name + " has " + std::to_string(topology.total_gpus()));
    if (!shared && prefill_gpus > prefill_machine.total_gpus())
        throw Error(std::to_string(a.prefill_replicas) + " prefill replicas of " + prefill_layout.label() + " need "
                    + std::to_string(prefill_gpus) + " GPUs, " + prefill_machine.name + " has "
                    + std::to_string(prefill_machine.total_gpus()));
    if (disaggregated) {
        prefill_layout.validate(model.layers, prefill_machine.total_gpus());
        if (a.prefill_replicas < 1)
            throw Error("--prefill-replicas must be at least 1, got " + std::to_string(a.prefill_replicas));
        if (a.concurrency > 0)
            throw Error("a disaggregated deployment is simulated under a request rate, not --concurrency");
    }
    const serving::GpuPrices prices = serving::GpuPrices::parse(a.prices);

    const Traffic t = build_traffic(a);
    const std::vector<serving::Request>& requests = t.requests;
    const std::string& traffic_text = t.text;
    serving::DeploymentOption deployment;
    deployment.layout = layout;
    deployment.replicas = replicas;
    deployment.machine = topology;
    deployment.limits = a.limits;
    deployment.limits.chunked_prefill = !a.no_chunked_prefill;
    deployment.limits.prefix_caching = !a.no_prefix_caching;
    if (disaggregated) {
        deployment.prefill_layout = prefill_layout;
        deployment.prefill_replicas = a.prefill_replicas;
        deployment.prefill_machine = prefill_machine;
    }
    const serving::OptionRun run =
        serving::simulate_option(model, machines, deployment, requests, w.dtype, w.kv_dtype,
                                 t.spec.arrivals.kind == serving::Arrivals::Kind::Concurrency && a.trace.empty()
                                     ? std::optional<int>(a.concurrency)
                                     : std::nullopt);
    deployment.limits.kv_blocks = run.kv_blocks;
    const serving::SchedulerLimits& limits = deployment.limits;
    const serving::ServingSummary s = serving::summarize(run.merged, a.slo, limits.kv_blocks);
    const int gpus = prefill_gpus + decode_gpus;
    const double usd_per_hour = prices.usd_per_gpu_hour(topology.gpu) * decode_gpus
                                + (disaggregated ? prices.usd_per_gpu_hour(prefill_machine.gpu) * prefill_gpus : 0.0);
    const double usd = serving::usd_per_million_tokens(usd_per_hour, s.output_tokens_per_s);
    const serving::KvTransfer transfer =
        disaggregated ? serving::price_kv_transfer(model, w.kv_dtype, prefill_machine, topology, prefill_layout, layout)
                      : serving::KvTransfer{};

    const std::vector<serving::LaunchCommands> commands = serving::deployment_launch_commands(
        model, w, deployment, requests, t.spec, a.trace, write_replay_file(a, requests));
    OrderedJson j;
    {
        j["model"] = model.id.empty() ? model.name : model.id;
        j["topology"] = topology.id.empty() ? topology.name : topology.id;
        j["strategy"] = layout.label();
        j["replicas"] = replicas;
        j["gpus"] = gpus;
        j["traffic"] = traffic_text;
        j["kind"] = "simulated";
        j["step_times"] = run.step_source;
        j["kv_blocks_per_replica"] = limits.kv_blocks;
        j["block_size"] = limits.block_size;
        j["requests"] = s.requests;
        j["rejected"] = s.rejected;
        j["ttft_ms"] = percentiles_json(s.ttft_ms);
        j["tpot_ms"] = percentiles_json(s.tpot_ms);
        j["e2e_ms"] = percentiles_json(s.e2e_ms);
        j["requests_per_s"] = s.requests_per_s;
        j["output_tokens_per_s"] = s.output_tokens_per_s;
        j["output_tokens_per_s_per_gpu"] = s.output_tokens_per_s / gpus;
        j["tokens_per_s_per_user"] = s.tokens_per_s_per_user;
        j["goodput_per_s"] = s.goodput_per_s;
        j["slo_attainment"] = s.slo_attainment;
        j["slo"] = {{"percentile", a.slo.percentile},
                    {"ttft_ms", a.slo.ttft_ms},
                    {"tpot_ms", a.slo.tpot_ms},
                    {"e2e_ms", a.slo.e2e_ms}};
        j["meets_slo"] = s.meets_slo;
        j["failing"] = s.failing;
        j["preemptions"] = s.preemptions;
        j["peak_kv_share"] = s.peak_kv_share;
        j["prefix_cache_hit_share"] = s.prefix_hit_share;
        j["usd_per_hour"] = usd_per_hour;
        j["usd_per_million_output_tokens"] = usd;
        j["launch"] = launch_json(commands);
        if (disaggregated)
            j["disaggregated"] = {
                {"prefill_strategy", prefill_layout.label()},
                {"prefill_replicas", a.prefill_replicas},
                {"prefill_topology", prefill_machine.id.empty() ? prefill_machine.name : prefill_machine.id},
                {"decode_strategy", layout.label()},
                {"decode_replicas", replicas},
                {"kv_transfer_ms_mean", run.kv_transfer_ms},
                {"kv_transfer_in_node", transfer.in_node},
                {"kv_transfer_messages", transfer.messages}};
    }
    if (!a.no_store) {
        // Kept as a simulated run beside the measured ones.
        Plan replica;
        replica.name = "serve simulate";
        replica.model = model;
        replica.topology = topology;
        replica.strategy = layout;
        replica.workload = w;
        SimulatedRun stored;
        stored.plan_json = dump_json(plan_to_json(replica));
        stored.plan_name = replica.name;
        stored.model = j["model"].get<std::string>();
        stored.topology = j["topology"].get<std::string>();
        stored.deployment = deployment.label() + (shared ? std::string() : " (" + deployment.gpu_text() + ")");
        stored.ttft_ms = s.ttft_ms.mean;
        stored.tpot_ms = s.tpot_ms.mean;
        stored.output_tokens_per_s = s.output_tokens_per_s;
        stored.message = "simulated: " + traffic_text + "; goodput " + format_fixed(s.goodput_per_s, 2) + " requests/s"
                         + (s.meets_slo ? "" : ", SLO missed");
        stored.result = Json::parse(dump_json(j));
        RunStore store(a.db.empty() ? RunStore::default_path() : a.db);
        j["run"] = add_simulated_run(store, stored);
    }
    if (options.json) {
        print_json(j);
        return;
    }
    std::cout << model.name << " on " << topology.name
              << (shared ? std::string() : " (prefill on " + prefill_machine.name + ")") << ": " << deployment.label()
              << " (" << gpus << " GPUs), simulated request by request on predicted step times\n"
              << "traffic: " << traffic_text << "\n"
              << "scheduler per replica: up to " << limits.max_seqs << " sequences, " << limits.max_batched_tokens
              << " tokens per step, " << (limits.chunked_prefill ? "chunked prefill" : "whole prompts")
              << (limits.prefix_caching ? ", prefix caching" : "") << ", KV cache "
              << format_count(limits.kv_blocks * limits.block_size) << " tokens (" << format_count(limits.kv_blocks)
              << " blocks of " << limits.block_size << ")\n"
              << "step times: " << run.step_source << "\n";
    if (disaggregated)
        std::cout << "KV cache transfer, prefill to decode pool: " << format_ms(run.kv_transfer_ms)
                  << " ms per request on average (simulated, "
                  << (transfer.in_node ? "in the node's fabric" : "over the NICs")
                  << (transfer.messages > 1
                          ? ", each decode GPU gathering from " + std::to_string(transfer.messages) + " prefill GPUs"
                          : std::string())
                  << ")\n";
    std::cout << "\n";
    TextTable table({"simulated, ms", "p50", "p90", "p99", "mean"},
                    {TextTable::Align::Left, TextTable::Align::Right, TextTable::Align::Right, TextTable::Align::Right,
                     TextTable::Align::Right});
    for (const auto& [name, p] :
         {std::pair{"TTFT", s.ttft_ms}, std::pair{"TPOT", s.tpot_ms}, std::pair{"end to end", s.e2e_ms}})
        table.add_row({name, format_ms(p.p50), format_ms(p.p90), format_ms(p.p99), format_ms(p.mean)});
    std::cout << table.render() << "\n";
    std::cout << "throughput: " << format_fixed(s.requests_per_s, 2) << " requests/s, "
              << format_fixed(s.output_tokens_per_s, 0) << " output tokens/s ("
              << format_fixed(s.output_tokens_per_s / gpus, 0) << " per GPU, "
              << format_fixed(s.tokens_per_s_per_user, 1) << " per user)\n";
    const bool any_slo = a.slo.ttft_ms > 0 || a.slo.tpot_ms > 0 || a.slo.e2e_ms > 0;
    if (any_slo) {
        std::cout << "SLO at p" << format_fixed(a.slo.percentile, 0) << ": " << (s.meets_slo ? "met" : "MISSED");
        for (const auto& why : s.failing)
            std::cout << "; " << why;
        std::cout << "\ngoodput: " << format_fixed(s.goodput_per_s, 2) << " requests/s meet every limit ("
                  << format_fixed(100 * s.slo_attainment, 1) << " %)\n";
    } else if (s.rejected > 0) {
        std::cout << s.rejected << " requests refused: too long for the KV cache\n";
    }
    std::cout << "KV cache peak " << format_fixed(100 * s.peak_kv_share, 0) << " % of a replica's, " << s.preemptions
              << " preemptions";
    if (s.prefix_hit_share > 0)
        std::cout << ", " << format_fixed(100 * s.prefix_hit_share, 1) << " % of prompt tokens from the prefix cache";
    if (usd_per_hour > 0)
        std::cout << "; $" << format_fixed(usd, 3) << " per million output tokens at $" << format_fixed(usd_per_hour, 2)
                  << " per hour (" << prices.text() << ")";
    std::cout << "\n";
    if (a.launch)
        print_launch(commands);
    if (j.contains("run"))
        std::cout << "kept as simulated run " << j["run"].get<std::int64_t>()
                  << " in the run database (shardstudio-cli history list)\n";
}

} // namespace

void register_serve_commands(CLI::App& app, const GlobalOptions& options)
{
    auto* serve = app.add_subcommand("serve", "Serving: deployments under a traffic, simulated request by request");
    serve->require_subcommand(1);
    // The traffic, scheduler and SLO options every serve command takes.
    auto args = std::make_shared<ServeArgs>();
    auto* sim = serve->add_subcommand("simulate", "Replicas of one layout serving a traffic: TTFT, TPOT and "
                                                  "end-to-end percentiles, throughput, goodput against an SLO");
    add_serve_options(sim, *args);
    sim->add_option("--strategy,-s", args->strategy,
                    "One replica's layout, e.g. \"tp=4\" (default: the planner's fastest single replica)");
    sim->add_option("--replicas", args->replicas, "Replicas of it (default: as many as the topology holds)");
    sim->add_option("--max-seqs", args->limits.max_seqs, "Running requests per replica (vLLM max_num_seqs)")
        ->capture_default_str();
    sim->add_option("--prefill-strategy", args->prefill_strategy,
                    "Disaggregated: the prefill pool's layout (--strategy and --replicas are then the decode pool's)");
    sim->add_option("--prefill-replicas", args->prefill_replicas, "Replicas in the prefill pool")
        ->capture_default_str();
    sim->add_option("--prefill-topology", args->prefill_topology,
                    "Disaggregated: the nodes the prefill pool runs on, when not --topology's (another GPU kind)");
    sim->add_flag("--launch", args->launch,
                  "Print how to start the deployment on vLLM, SGLang and TensorRT-LLM and "
                  "the benchmark that replays the traffic");
    sim->add_flag("--no-store", args->no_store, "Do not keep the simulation in the run database");
    sim->add_option("--db", args->db, "The run database (default: $XDG_DATA_HOME/shardstudio/runs.db)");
    sim->callback([&options, args] { simulate(*args, options); });

    register_serve_search_commands(serve, options);
}

} // namespace shard::cli
