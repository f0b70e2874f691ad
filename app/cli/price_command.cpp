// `price`: one named layout priced as the planner would price it, without ranking.
#include "commands.h"
#include "workload_options.h"

#include "cost/perf_db.h"
#include "planner/prediction_json.h"

#include "core/plan.h"
#include "core/units.h"

#include <iostream>

namespace shard::cli {

namespace {

struct PriceArgs {
    std::string file;
    std::string strategy;
    WorkloadArgs workload;
    std::vector<CLI::Option*> workload_options;
};

// The plan to price: a plan file (its strategy replaced by --strategy when given), or the
// workload flags with --strategy.
Plan plan_to_price(const PriceArgs& args)
{
    Plan plan;
    if (!args.file.empty()) {
        for (const CLI::Option* option : args.workload_options)
            if (option->count() > 0)
                throw Error(option->get_name()
                            + " cannot be combined with a plan file: the file gives the model, "
                              "topology and workload (only --strategy replaces its layout)");
        plan = load_plan(args.file);
    } else {
        if (args.strategy.empty())
            throw Error("name the layout to price: a plan file, or --strategy \"pp=2,dp=1,tp=4,mode=megatron\"");
        const auto& library = PresetLibrary::instance();
        plan.model = library.model(args.workload.model);
        plan.topology = library.topology(args.workload.topology);
        plan.workload = args.workload.workload();
    }
    if (!args.strategy.empty())
        plan.strategy = parse_strategy_text(args.strategy);
    plan.workload.validate_for(plan.model);
    plan.strategy.validate(plan.model.layers, plan.topology.total_gpus());
    return plan;
}

void print_priced_phase(const char* name, const PhaseCost& phase)
{
    std::cout << "  " << name << ": " << format_ms(phase.time_ms) << " ms (compute " << format_ms(phase.compute_ms)
              << ", communication " << format_ms(phase.comm_ms) << ", bubble " << format_ms(phase.bubble_ms) << "), "
              << format_bytes(double(phase.traffic_per_device)) << " sent per GPU, "
              << format_fixed(100.0 * phase.measured_share, 0) << " % of it from measured tables\n";
}

void price(const PriceArgs& args, const GlobalOptions& options)
{
    const Plan plan = plan_to_price(args);
    const Efficiency efficiency = planner_efficiency(plan.topology.gpu, args.workload.tables);
    const Estimate e = estimate(plan.model, plan.strategy, plan.topology, plan.workload, efficiency);
    const std::string source = prediction_source(plan.topology.gpu, efficiency);
    if (options.json) {
        OrderedJson j;
        j["model"] = plan.model.id.empty() ? plan.model.name : plan.model.id;
        j["topology"] = plan.topology.id.empty() ? plan.topology.name : plan.topology.id;
        j["workload"] = workload_to_json(plan.workload);
        j["strategy"] = strategy_to_json(plan.strategy, plan.model.layers);
        j["prediction_source"] = source;
        j["prediction"] = prediction_to_json(plan.strategy, e);
        print_json(j);
        return;
    }
    const Workload& w = plan.workload;
    std::cout << plan.model.name << " on " << plan.topology.name << ": " << plan.strategy.label() << " (mesh "
              << plan.strategy.mesh_text() << "), priced without ranking\n"
              << "workload: batch " << w.batch << ", prompt " << w.prompt << ", generate " << w.generate << ", "
              << to_string(w.dtype) << " weights, " << to_string(w.kv_dtype) << " KV cache\n"
              << "predicted from: " << source << "\n";
    if (!e.feasible)
        std::cout << "INFEASIBLE: " << e.reason << "\n";
    if (!e.geometry.feasible())
        return;
    std::cout << "Predicted: TTFT " << format_ms(e.ttft_ms) << " ms, TPOT " << format_ms(e.tpot_ms) << " ms, "
              << format_fixed(e.tokens_per_s, 0) << " tokens/s\n";
    print_priced_phase("prefill per microbatch", e.prefill);
    print_priced_phase("decode step per microbatch", e.decode);
    std::cout << "  memory per GPU: " << format_bytes(double(e.memory.total())) << " of "
              << format_bytes(double(e.memory.capacity)) << " (weights " << format_bytes(double(e.memory.weights))
              << ", KV cache " << format_bytes(double(e.memory.kv_cache)) << ")\n"
              << "Per-layer shapes and times: shardstudio-cli explain on a saved plan file.\n";
}

} // namespace

void register_price_command(CLI::App& app, const GlobalOptions& options)
{
    auto args = std::make_shared<PriceArgs>();
    auto* price_cmd = app.add_subcommand("price", "Price one named layout without ranking (predicted)");
    price_cmd->add_option("FILE", args->file, "A *.shardplan.json (its strategy replaced by --strategy if given)");
    price_cmd->add_option("--strategy,-s", args->strategy,
                          "The layout: pp=,dp=,tp= or shape=2x4, mode=megatron|megatron-sp|1d-column|1d-row|"
                          "2d-summa|2d-weight-stationary|2.5d-tesseract|3d-cube, ep=, attention=, lm-head=");
    args->workload_options = add_workload_options(*price_cmd, args->workload);
    price_cmd->callback([&options, args] { price(*args, options); });
}

} // namespace shard::cli
