// `shardstudio-cli serve search` and `serve recommend`: deployments within a GPU budget,
// simulated and ranked, and the launch commands of the best.
#include "serve_options.h"

#include "core/error.h"
#include "core/plan.h"
#include "core/presets.h"
#include "core/units.h"
#include "serving/deployment_search.h"
#include "serving/launch_export.h"

#include <iostream>
#include <memory>

namespace shard::cli {

namespace {

struct SearchArgs {
    ServeArgs serve;
    int max_gpus = 0;
    double max_usd_per_hour = 0;
    std::vector<std::string> with_topologies; // more machines, of other GPU kinds
    std::vector<int> max_seqs = {64, 128, 256};
    std::string objective = "goodput";
    int top = 15;
};

OrderedJson option_json(const serving::DeploymentOption& o)
{
    const serving::ServingSummary& s = o.summary;
    return {{"deployment", o.label()},
            {"strategy", o.layout.label()},
            {"replicas", o.replicas},
            {"prefill_strategy", o.prefill_layout ? o.prefill_layout->label() : std::string()},
            {"prefill_replicas", o.prefill_replicas},
            {"gpu", o.machine.gpu.name},
            {"topology", o.machine.id.empty() ? o.machine.name : o.machine.id},
            {"prefill_gpu", o.prefill_layout ? o.prefill_machine.gpu.name : std::string()},
            {"prefill_topology", o.prefill_layout
                                     ? (o.prefill_machine.id.empty() ? o.prefill_machine.name : o.prefill_machine.id)
                                     : std::string()},
            {"kv_transfer_ms", o.kv_transfer_ms},
            {"gpus", o.gpus},
            {"nodes", o.nodes},
            {"max_seqs", o.limits.max_seqs},
            {"max_batched_tokens", o.limits.max_batched_tokens},
            {"meets_slo", s.meets_slo},
            {"failing", s.failing},
            {"goodput_per_s", s.goodput_per_s},
            {"goodput_per_s_per_gpu", s.goodput_per_s / o.gpus},
            {"ttft_ms", percentiles_json(s.ttft_ms)},
            {"tpot_ms", percentiles_json(s.tpot_ms)},
            {"e2e_ms", percentiles_json(s.e2e_ms)},
            {"output_tokens_per_s_per_gpu", s.output_tokens_per_s / o.gpus},
            {"tokens_per_s_per_user", s.tokens_per_s_per_user},
            {"usd_per_hour", o.usd_per_hour},
            {"usd_per_million_output_tokens", o.usd_per_million_tokens},
            {"pareto", o.pareto}};
}

void search(const SearchArgs& a, bool recommend, const GlobalOptions& options)
{
    const ServeArgs& sa = a.serve;
    const auto& library = PresetLibrary::instance();
    const ModelSpec model = library.model(sa.workload.model);
    const Topology topology = library.topology(sa.workload.topology);
    const Workload w = sa.workload.workload();
    std::vector<serving::Machine> machines{{topology, planner_efficiency(topology.gpu, sa.workload.tables)}};
    int all_gpus = topology.total_gpus();
    for (const std::string& name : a.with_topologies) {
        const Topology more = library.topology(name);
        for (const auto& m : machines)
            if (m.topology == more)
                throw Error("--with-topology " + name + " names a machine the search has already");
        machines.push_back({more, planner_efficiency(more.gpu, sa.workload.tables)});
        all_gpus += more.total_gpus();
    }
    const Traffic t = build_traffic(sa);
    serving::SearchSpace space;
    space.max_gpus = a.max_gpus;
    space.max_usd_per_hour = a.max_usd_per_hour;
    space.max_seqs = a.max_seqs;
    space.max_batched_tokens = sa.limits.max_batched_tokens;
    space.prefix_caching = !sa.no_prefix_caching;
    space.prices = serving::GpuPrices::parse(sa.prices);
    space.dtype = w.dtype;
    space.kv_dtype = w.kv_dtype;
    const bool terminal = !options.json;
    const serving::SearchResult result = serving::search_deployments(
        model, machines, t.requests, sa.slo, space, serving::parse_search_objective(a.objective),
        [terminal](const serving::SearchProgress& p) {
            if (terminal)
                std::cerr << "\rsimulated " << p.done << "/" << p.total << ": " << p.current << "            "
                          << std::flush;
        });
    if (terminal)
        std::cerr << "\r" << std::string(100, ' ') << "\r";
    const serving::DeploymentOption* best =
        !result.options.empty() && result.options.front().summary.meets_slo ? &result.options.front() : nullptr;
    std::vector<serving::LaunchCommands> launch;
    if (best)
        launch = serving::deployment_launch_commands(model, w, *best, t.requests, t.spec, sa.trace,
                                                     write_replay_file(sa, t.requests));
    if (options.json) {
        OrderedJson j;
        j["kind"] = "simulated";
        j["model"] = model.id.empty() ? model.name : model.id;
        j["topology"] = topology.id.empty() ? topology.name : topology.id;
        j["traffic"] = t.text;
        j["objective"] = a.objective;
        j["step_times"] = result.step_source;
        j["simulated"] = result.simulated;
        OrderedJson rows = OrderedJson::array();
        for (const auto& o : result.options)
            rows.push_back(option_json(o));
        j["deployments"] = rows;
        j["skipped"] = result.skipped;
        j["recommended"] = best ? option_json(*best) : OrderedJson();
        j["launch"] = launch_json(launch);
        print_json(j);
        return;
    }
    std::string where = topology.name;
    for (std::size_t m = 1; m < machines.size(); ++m)
        where += (m + 1 == machines.size() ? " and " : ", ") + machines[m].topology.name;
    std::cout << model.name << " on up to " << (a.max_gpus > 0 ? std::min(a.max_gpus, all_gpus) : all_gpus)
              << " GPUs of " << where
              << (a.max_usd_per_hour > 0 ? " costing at most $" + format_fixed(a.max_usd_per_hour, 2) + " an hour"
                                         : std::string())
              << ", " << result.simulated
              << " deployments simulated request by request on predicted step times\ntraffic: " << t.text << "\n";
    if (!recommend) {
        // A GPU kind column only when the machines differ in it.
        const bool kinds = machines.size() > 1;
        using Align = TextTable::Align;
        std::vector<std::string> headers = {"#",
                                            "deployment",
                                            "GPU kind",
                                            "GPUs",
                                            "max seqs",
                                            "goodput/s",
                                            "per GPU",
                                            "TTFT p" + format_fixed(sa.slo.percentile, 0),
                                            "TPOT p" + format_fixed(sa.slo.percentile, 0),
                                            "tok/s/GPU",
                                            "tok/s/user",
                                            "$/M tok",
                                            "SLO"};
        std::vector<Align> align(headers.size(), Align::Right);
        align[1] = align[2] = align.back() = Align::Left;
        if (!kinds) {
            headers.erase(headers.begin() + 2);
            align.erase(align.begin() + 2);
        }
        TextTable table(headers, align);
        for (std::size_t i = 0; i < result.options.size() && int(i) < a.top; ++i) {
            const auto& o = result.options[i];
            const auto& s = o.summary;
            std::vector<std::string> row = {std::to_string(i + 1) + (o.pareto ? "*" : ""),
                                            o.label(),
                                            o.gpu_text(),
                                            std::to_string(o.gpus),
                                            std::to_string(o.limits.max_seqs),
                                            format_fixed(s.goodput_per_s, 2),
                                            format_fixed(s.goodput_per_s / o.gpus, 3),
                                            format_ms(s.ttft_ms.at_slo),
                                            format_ms(s.tpot_ms.at_slo),
                                            format_fixed(s.output_tokens_per_s / o.gpus, 0),
                                            format_fixed(s.tokens_per_s_per_user, 1),
                                            o.usd_per_hour > 0 ? format_fixed(o.usd_per_million_tokens, 3) : "-",
                                            s.meets_slo ? "met" : "missed"};
            if (!kinds)
                row.erase(row.begin() + 2);
            table.add_row(row);
        }
        std::cout << "\n"
                  << table.render() << "* on the front of tokens/s per GPU against tokens/s per user. Every "
                  << "figure is simulated (ms, tokens/s, requests/s); step times: " << result.step_source << "\n";
    }
    if (!best) {
        std::cout << "No deployment within the budget meets the SLO at this traffic";
        if (!result.options.empty() && !result.options.front().summary.failing.empty())
            std::cout << " (the closest: " << result.options.front().label() << ", "
                      << result.options.front().summary.failing.front() << ")";
        std::cout << ".\n";
        return;
    }
    std::cout << "\nRecommended: " << best->gpus << " GPUs (" << best->nodes << (best->nodes == 1 ? " node" : " nodes")
              << (machines.size() > 1 ? ", " + best->gpu_text() : std::string()) << "): " << best->label()
              << (best->usd_per_hour > 0 ? ", $" + format_fixed(best->usd_per_hour, 2) + " an hour" : std::string())
              << ", up to " << best->limits.max_seqs << " sequences and " << best->limits.max_batched_tokens
              << " tokens per step; simulated goodput " << format_fixed(best->summary.goodput_per_s, 2)
              << " requests/s, TTFT p" << format_fixed(sa.slo.percentile, 0) << " "
              << format_ms(best->summary.ttft_ms.at_slo) << " ms, TPOT p" << format_fixed(sa.slo.percentile, 0) << " "
              << format_ms(best->summary.tpot_ms.at_slo) << " ms\n";
    print_launch(launch);
}

} // namespace

void register_serve_search_commands(CLI::App* serve, const GlobalOptions& options)
{
    for (const bool recommend : {false, true}) {
        auto search_args = std::make_shared<SearchArgs>();
        auto* c = serve->add_subcommand(
            recommend ? "recommend" : "search",
            recommend ? "The fewest GPUs that meet the SLO at the traffic, with launch and benchmark commands"
                      : "Rank deployments (layouts x replicas x batch limits) within a GPU budget by goodput per "
                        "GPU, GPUs or cost");
        add_serve_options(c, search_args->serve);
        c->add_option("--max-gpus", search_args->max_gpus, "GPU budget (default: every GPU of the machines)");
        c->add_option("--max-usd-per-hour", search_args->max_usd_per_hour,
                      "Money budget: what the deployment's GPUs may cost an hour (needs --usd-per-gpu-hour)");
        c->add_option("--with-topology", search_args->with_topologies,
                      "More nodes to deploy on, e.g. of another GPU kind: deployments on each, and prefill and "
                      "decode pools across them (repeatable)");
        c->add_option("--max-seqs", search_args->max_seqs, "Batch limits to try per layout")->capture_default_str();
        if (!recommend) {
            c->add_option("--rank-by", search_args->objective, "goodput (per GPU), gpus or cost")
                ->capture_default_str()
                ->check(CLI::IsMember({"goodput", "gpus", "cost"}));
            c->add_option("--top", search_args->top, "Deployments to list")->capture_default_str();
        } else {
            search_args->objective = "gpus";
        }
        c->callback([&options, search_args, recommend] { search(*search_args, recommend, options); });
    }
}

} // namespace shard::cli
