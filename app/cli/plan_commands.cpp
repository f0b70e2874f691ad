#include "commands.h"
#include "workload_options.h"

#include "cost/perf_db.h"
#include "planner/fit_hints.h"
#include "planner/planner.h"
#include "planner/prediction_json.h"
#include "planner/serving_export.h"

#include "core/presets.h"
#include "core/units.h"

#include <iostream>
#include <map>

namespace shard::cli {

namespace {

struct PlanArgs {
    WorkloadArgs workload;
    int top = 15;
    bool show_rejected = false;
    std::string save;
    int pick = 1;
};

void print_plan_table(const PlanResult& result, const ModelSpec& model, const Topology& topology, const Workload& w,
                      const PlanArgs& args, const Efficiency& efficiency)
{
    std::cout << model.name << " (" << format_params(model.total_params()) << " parameters, " << to_string(w.dtype)
              << ") on " << topology.name << " (" << topology.total_gpus()
              << (topology.total_gpus() == 1 ? " GPU)\n" : " GPUs)\n");
    std::cout << "workload: batch " << w.batch << ", prompt " << w.prompt << ", generate " << w.generate << ", KV "
              << to_string(w.kv_dtype) << "; ranked by " << to_string(w.objective) << "\n";
    std::cout << "All figures are predicted (memory in GiB per GPU, traffic per GPU per decode step): "
              << prediction_source(topology.gpu, efficiency) << ".\n\n";
    TextTable table({"#", "strategy", "mesh", "mem/GPU", "comm/step", "TTFT ms", "TPOT ms", "tok/s", "pareto"},
                    {TextTable::Align::Right, TextTable::Align::Left, TextTable::Align::Left, TextTable::Align::Right,
                     TextTable::Align::Right, TextTable::Align::Right, TextTable::Align::Right, TextTable::Align::Right,
                     TextTable::Align::Left});
    int shown = 0;
    for (const auto& c : result.candidates) {
        if (!c.estimate.feasible || shown >= args.top)
            continue;
        ++shown;
        const Estimate& e = c.estimate;
        table.add_row({std::to_string(c.rank), c.strategy.label(), c.strategy.mesh_text(),
                       format_bytes(double(e.memory.total())), format_bytes(double(e.decode.traffic_per_device)),
                       format_ms(e.ttft_ms), format_ms(e.tpot_ms), format_fixed(e.tokens_per_s, 0),
                       c.pareto ? "*" : ""});
    }
    std::cout << table.render();
    const int rejected = int(result.candidates.size()) - result.feasible;
    std::cout << "\n" << result.feasible << " feasible of " << result.candidates.size() << " candidates";
    if (shown < result.feasible)
        std::cout << " (top " << shown << " shown, --top N for more)";
    std::cout << "; * marks the Pareto front of TPOT vs memory per GPU.\n";
    if (result.feasible == 0)
        std::cout << "Nothing fits: " << describe_fit_hints(fit_hints(model, topology, w)) << ".\n";
    if (rejected == 0)
        return;
    if (args.show_rejected) {
        std::cout << "\nRejected:\n";
        TextTable rej({"strategy", "mesh", "reason"});
        for (const auto& c : result.candidates) {
            if (!c.estimate.feasible)
                rej.add_row({c.strategy.label(), c.strategy.mesh_text(), c.estimate.reason});
        }
        std::cout << rej.render();
        return;
    }
    // Group the reasons by their rule so the summary stays short.
    std::map<std::string, std::pair<int, std::string>> reasons;
    for (const auto& c : result.candidates) {
        if (c.estimate.feasible)
            continue;
        const std::string& r = c.estimate.reason;
        std::string key = r.substr(0, r.find_first_of("0123456789("));
        if (key.empty())
            key = r.substr(0, r.find(' ', 8));
        auto& entry = reasons[key];
        if (entry.first++ == 0)
            entry.second = c.strategy.label() + ": " + r;
    }
    std::cout << rejected << " rejected, for example (--rejected lists them all):\n";
    for (const auto& [key, entry] : reasons)
        std::cout << "  " << entry.first << "x  " << entry.second << "\n";
}

void run_plan(const PlanArgs& args, const GlobalOptions& options)
{
    const auto& library = PresetLibrary::instance();
    const ModelSpec model = library.model(args.workload.model);
    const Topology topology = library.topology(args.workload.topology);
    const Workload w = args.workload.workload();
    PlannerOptions planner;
    planner.objective = w.objective;
    planner.efficiency = planner_efficiency(topology.gpu, args.workload.tables);
    const PlanResult result = plan_candidates(model, topology, w, planner);
    if (!args.save.empty()) {
        if (result.feasible == 0)
            throw Error("no feasible candidate to save: every layout was rejected (see the reasons without --save)");
        if (args.pick < 1 || args.pick > result.feasible)
            throw Error("--pick " + std::to_string(args.pick) + " is out of range: " + std::to_string(result.feasible)
                        + " feasible candidates");
        save_plan(make_plan(model, topology, w, result.candidates[args.pick - 1]), args.save);
    }
    if (options.json) {
        OrderedJson j;
        j["model"] = model.id;
        j["topology"] = topology.id;
        j["workload"] = workload_to_json(w);
        j["feasible"] = result.feasible;
        if (result.feasible == 0) {
            OrderedJson hints = OrderedJson::array();
            for (const FitHint& h : fit_hints(model, topology, w, planner))
                hints.push_back({{"change", h.change}, {"feasible", h.feasible}});
            j["fit_hints"] = hints;
        }
        OrderedJson list = OrderedJson::array();
        int shown = 0;
        for (const auto& c : result.candidates) {
            if (c.estimate.feasible && shown >= args.top)
                continue;
            if (!c.estimate.feasible && !args.show_rejected)
                continue;
            shown += c.estimate.feasible ? 1 : 0;
            OrderedJson entry = prediction_to_json(c.strategy, c.estimate);
            entry["rank"] = c.rank;
            entry["pareto"] = c.pareto;
            list.push_back(entry);
        }
        j["candidates"] = list;
        print_json(j);
    } else {
        print_plan_table(result, model, topology, w, args, planner.efficiency);
        if (!args.save.empty())
            std::cout << "\nSaved candidate #" << args.pick << " to " << args.save << "\n";
    }
}

// "measured", or "measured x1.080" when stored runs corrected it.
std::string source_text(Provenance source, double calibration)
{
    return to_string(source) + (calibration != 1 ? " x" + format_fixed(calibration, 3) : "");
}

void print_block(const BlockCost& block, int count)
{
    if (block.ops.empty() && block.collectives.empty())
        return;
    std::cout << "  " << block.name << (count > 1 ? " x" + std::to_string(count) : "") << ": compute "
              << format_fixed(block.compute_us(), 1) << " us, communication " << format_fixed(block.comm_us(), 1)
              << " us, weights " << format_bytes(double(block.weight_bytes())) << ", KV cache "
              << format_bytes(double(block.kv_cache_bytes)) << " per GPU\n";
    TextTable ops({"op", "shape (m x k x n)", "weights", "GFLOP", "HBM", "time us", "source"},
                  {TextTable::Align::Left, TextTable::Align::Left, TextTable::Align::Right, TextTable::Align::Right,
                   TextTable::Align::Right, TextTable::Align::Right, TextTable::Align::Left});
    for (const auto& op : block.ops) {
        std::string shape =
            op.m > 0 ? std::to_string(op.m) + " x " + std::to_string(op.k) + " x " + std::to_string(op.n) : "-";
        if (op.m > 0 && op.repeat != 1)
            shape += " (x" + format_fixed(op.repeat, op.repeat == double(std::int64_t(op.repeat)) ? 0 : 1) + ")";
        ops.add_row({op.name, shape, op.weight_bytes ? format_bytes(double(op.weight_bytes)) : "",
                     format_fixed(op.flops / 1e9, 3), format_bytes(op.bytes), format_fixed(op.time_us, 1),
                     source_text(op.source, op.calibration)});
    }
    std::cout << ops.render();
    if (!block.collectives.empty()) {
        TextTable comm(
            {"collective", "for", "group", "payload", "calls", "traffic/GPU", "busbw GB/s", "time us", "source"},
            {TextTable::Align::Left, TextTable::Align::Left, TextTable::Align::Left, TextTable::Align::Right,
             TextTable::Align::Right, TextTable::Align::Right, TextTable::Align::Right, TextTable::Align::Right,
             TextTable::Align::Left});
        for (const auto& c : block.collectives)
            comm.add_row({to_string(c.op), c.name,
                          c.axis + " (" + std::to_string(c.group) + (c.cross_node ? ", cross-node)" : ")"),
                          format_count(c.payload) + " B", std::to_string(c.calls), format_count(c.traffic) + " B",
                          format_fixed(c.busbw_gbps, 0), format_fixed(c.time_us, 1),
                          source_text(c.source, c.calibration)});
        std::cout << comm.render();
    }
    for (const auto& note : block.notes)
        std::cout << "  note: " << note << "\n";
    std::cout << "\n";
}

void print_phase(const char* title, const PhaseCost& phase)
{
    std::cout << "== " << title << ": " << format_ms(phase.time_ms) << " ms predicted (compute "
              << format_ms(phase.compute_ms) << ", communication " << format_ms(phase.comm_ms) << ", bubble "
              << format_ms(phase.bubble_ms) << "), " << format_bytes(double(phase.traffic_per_device))
              << " sent per GPU; " << format_fixed(100.0 * phase.measured_share, 0)
              << " % of the busiest GPU's time from measured tables, the rest roofline\n";
    int dense = 0;
    int moe = 0;
    for (const auto& s : phase.stages) {
        dense = std::max(dense, s.dense_layers);
        moe = std::max(moe, s.moe_layers);
    }
    for (const auto& block : phase.blocks) {
        const int count = block.name == "dense layer" ? dense : block.name == "moe layer" ? moe : 1;
        if (count > 0)
            print_block(block, count);
    }
}

void explain(const std::string& file, const std::string& tables, const GlobalOptions& options)
{
    const Plan plan = load_plan(file);
    PlannerOptions planner;
    planner.efficiency = planner_efficiency(plan.topology.gpu, tables);
    const Estimate e = estimate(plan.model, plan.strategy, plan.topology, plan.workload, planner.efficiency);
    if (options.json) {
        print_json(prediction_to_json(plan.strategy, e, true));
        return;
    }
    const Workload& w = plan.workload;
    std::cout << plan.model.name << " on " << plan.topology.name << ": " << plan.strategy.label() << " (mesh "
              << plan.strategy.mesh_text() << ")\n"
              << "workload: batch " << w.batch << ", prompt " << w.prompt << ", generate " << w.generate << ", "
              << to_string(w.dtype) << " weights, " << to_string(w.kv_dtype) << " KV cache\n";
    if (!e.feasible) {
        std::cout << "INFEASIBLE: " << e.reason << "\n";
        if (!e.geometry.feasible())
            return;
    }
    std::cout << "Predicted: TTFT " << format_ms(e.ttft_ms) << " ms, TPOT " << format_ms(e.tpot_ms) << " ms, "
              << format_fixed(e.tokens_per_s, 0) << " tokens/s; KV cache "
              << format_count(e.kv_bytes_per_token_per_device) << " bytes per token per GPU\n\n";
    const MemoryBreakdown& m = e.memory;
    TextTable mem({"memory per GPU (predicted)", "bytes", ""},
                  {TextTable::Align::Left, TextTable::Align::Right, TextTable::Align::Right});
    auto row = [&](const char* name, std::int64_t v) { mem.add_row({name, format_count(v), format_bytes(double(v))}); };
    row("weights", m.weights);
    row("KV cache", m.kv_cache);
    row("activations", m.activations);
    row("gathered weights", m.gathered_weights);
    row("communication buffers", m.comm_buffers);
    row("runtime reserve", m.runtime_reserve);
    row("total", m.total());
    row("capacity", m.capacity);
    std::cout << mem.render() << "\n";
    if (plan.strategy.pp > 1) {
        TextTable stages({"stage", "layers", "dense", "moe", "decode compute us", "decode comm us"});
        for (std::size_t i = 0; i < e.decode.stages.size(); ++i) {
            const auto& s = e.decode.stages[i];
            stages.add_row({std::to_string(i),
                            std::to_string(s.first_layer) + "-"
                                + std::to_string(s.first_layer + s.dense_layers + s.moe_layers - 1),
                            std::to_string(s.dense_layers), std::to_string(s.moe_layers), format_fixed(s.compute_us, 1),
                            format_fixed(s.comm_us, 1)});
        }
        std::cout << stages.render() << "\n";
    }
    print_phase("prefill (per microbatch)", e.prefill);
    print_phase("decode step (per microbatch)", e.decode);
    for (const auto& note : e.notes)
        std::cout << "note: " << note << "\n";
}

} // namespace

void register_plan_commands(CLI::App& app, const GlobalOptions& options)
{
    auto args = std::make_shared<PlanArgs>();
    auto* plan = app.add_subcommand("plan", "Rank every shard layout of a model on a topology (predicted)");
    add_workload_options(*plan, args->workload);
    plan->add_option("--top", args->top, "Feasible candidates to show")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    plan->add_flag("--rejected", args->show_rejected, "List every rejected candidate with its reason");
    plan->add_option("--save", args->save, "Write the chosen candidate as a *.shardplan.json");
    plan->add_option("--pick", args->pick, "Which ranked candidate --save writes")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    plan->callback([&options, args] { run_plan(*args, options); });

    auto* explain_cmd = app.add_subcommand("explain", "Per-layer shapes, bytes, collectives and time of a plan file");
    auto file = std::make_shared<std::string>();
    explain_cmd->add_option("FILE", *file, "A *.shardplan.json")->required();
    auto tables = std::make_shared<std::string>("auto");
    add_tables_option(*explain_cmd, *tables);
    explain_cmd->callback([&options, file, tables] { explain(*file, *tables, options); });

    auto* export_cmd = app.add_subcommand("export", "The serving-engine flags that reproduce a plan");
    auto export_file = std::make_shared<std::string>();
    auto engine = std::make_shared<std::string>();
    export_cmd->add_option("FILE", *export_file, "A *.shardplan.json")->required();
    export_cmd->add_option("--to", *engine, "vllm, sglang or trtllm")->required();
    export_cmd->callback([&options, export_file, engine] {
        const ServingExport out = export_for_serving(load_plan(*export_file), *engine);
        if (options.json) {
            print_json(OrderedJson{
                {"engine", out.engine}, {"exact", out.exact}, {"command", out.command}, {"caveats", out.caveats}});
            return;
        }
        std::cout << out.command << "\n";
        if (!out.exact)
            std::cout << "\nNot an exact equivalent:\n";
        for (const auto& c : out.caveats)
            std::cout << "  - " << c << "\n";
    });
}

} // namespace shard::cli
