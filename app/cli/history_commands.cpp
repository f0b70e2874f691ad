#include "commands.h"

#include "store/calibration.h"
#include "store/kind_comparison.h"
#include "store/profile_store.h"
#include "store/run_store.h"
#include "store/simulated_runs.h"

#include "core/units.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

namespace shard::cli {

namespace {

std::string opt(const std::optional<double>& v, int digits = 2)
{
    return v ? format_fixed(*v, digits) : "-";
}

OrderedJson run_json(const RunRecord& r)
{
    auto value = [](const std::optional<double>& v) { return v ? OrderedJson(*v) : OrderedJson(nullptr); };
    OrderedJson j;
    j["id"] = r.id;
    j["status"] = to_string(r.status);
    j["plan"] = r.plan_name;
    j["plan_hash"] = r.plan_hash;
    j["model"] = r.model;
    j["topology"] = r.topology;
    j["strategy"] = r.strategy;
    j["backend"] = r.backend;
    j["kind"] = r.kind;
    j["started_at"] = r.started_at;
    j["ended_at"] = r.ended_at;
    j["host"] = r.host;
    j["engine_version"] = r.engine_version;
    j["message"] = r.message;
    j[r.kind] = {{"ttft_ms", value(r.ttft_ms)},
                 {"tpot_ms", value(r.tpot_ms)},
                 {"tokens_per_s", value(r.tokens_per_s)},
                 {"max_rel_error", value(r.max_rel_error)}};
    j["predicted"] = {{"ttft_ms", value(r.predicted_ttft_ms)},
                      {"tpot_ms", value(r.predicted_tpot_ms)},
                      {"tokens_per_s", value(r.predicted_tokens_per_s)}};
    return j;
}

struct HistoryArgs {
    std::string db;
    HistoryFilter filter;
    std::vector<std::int64_t> ids;
    bool yes = false;
    bool csv = false;
    std::string file;
};

RunStore open_store(const HistoryArgs& a, bool write = false)
{
    const std::string path = a.db.empty() ? RunStore::default_path() : a.db;
    std::error_code ec;
    if (!write && !std::filesystem::exists(path, ec))
        throw Error(path + ": no run database here yet (`shardstudio-cli run` stores runs there; --db names another)");
    return RunStore(path, write ? SqliteDb::Mode::ReadWrite : SqliteDb::Mode::ReadOnly);
}

void list(const HistoryArgs& a, const GlobalOptions& options)
{
    RunStore store = open_store(a);
    const auto runs = store.list(a.filter);
    if (options.json) {
        OrderedJson list = OrderedJson::array();
        for (const auto& r : runs)
            list.push_back(run_json(r));
        print_json(list);
        return;
    }
    TextTable table({"id", "started (UTC)", "status", "model", "topology", "strategy", "backend", "kind", "TTFT ms",
                     "TPOT ms", "pred. TPOT ms"},
                    {TextTable::Align::Right});
    for (const auto& r : runs)
        table.add_row({std::to_string(r.id), r.started_at, to_string(r.status), r.model, r.topology, r.strategy,
                       r.backend, r.kind, opt(r.ttft_ms), opt(r.tpot_ms), opt(r.predicted_tpot_ms, 3)});
    std::cout << table.render() << runs.size() << " run(s)"
              << (a.filter.limit > 0 && int(runs.size()) == a.filter.limit ? " (--limit 0 lists all)" : "")
              << "; measured times are on the backend that ran them, simulated ones the serving simulator's means "
                 "on predicted step times, predicted ones for the plan's GPUs\n";
}

void show(const HistoryArgs& a, const GlobalOptions& options)
{
    RunStore store = open_store(a);
    for (const auto id : a.ids) {
        const auto r = store.get(id);
        if (!r)
            throw Error("no run " + std::to_string(id) + " in " + store.db().path());
        const auto simulation = simulated_result(store, id);
        if (options.json) {
            OrderedJson j = run_json(*r);
            j["op_rows"] = r->op_rows;
            j["collective_rows"] = r->collective_rows;
            if (simulation)
                j["simulation"] = OrderedJson::parse(simulation->dump());
            print_json(j);
            continue;
        }
        if (simulation) {
            TextTable t({"run " + std::to_string(id) + " (simulated)", ""});
            t.add_row({"model / topology", r->model + " on " + r->topology});
            t.add_row({"deployment", r->strategy});
            t.add_row({"traffic", simulation->value("traffic", "")});
            t.add_row({"simulated at", r->started_at});
            for (const auto& [metric, name] :
                 {std::pair{"ttft_ms", "TTFT"}, std::pair{"tpot_ms", "TPOT"}, std::pair{"e2e_ms", "end to end"}}) {
                const Json& p = (*simulation)[metric];
                t.add_row({std::string(name) + " ms p50 / p90 / p99 (simulated)",
                           format_ms(p.value("p50", 0.0)) + " / " + format_ms(p.value("p90", 0.0)) + " / "
                               + format_ms(p.value("p99", 0.0))});
            }
            t.add_row({"goodput, requests/s", format_fixed(simulation->value("goodput_per_s", 0.0), 2)});
            t.add_row({"output tokens/s", format_fixed(simulation->value("output_tokens_per_s", 0.0), 0)});
            t.add_row({"SLO", simulation->value("meets_slo", false) ? "met" : "missed"});
            t.add_row({"step times", simulation->value("step_times", "")});
            std::cout << t.render();
            continue;
        }
        TextTable t({"run " + std::to_string(id), ""});
        t.add_row({"plan", r->plan_name});
        t.add_row({"model / topology", r->model + " on " + r->topology});
        t.add_row({"strategy", r->strategy});
        t.add_row({"backend", r->backend});
        t.add_row({"status", to_string(r->status) + (r->message.empty() ? "" : ": " + r->message)});
        t.add_row({"started / ended", r->started_at + " / " + (r->ended_at.empty() ? "-" : r->ended_at)});
        t.add_row({"host, engine", r->host + ", " + r->engine_version});
        t.add_row({"TTFT ms measured / predicted", opt(r->ttft_ms) + " / " + opt(r->predicted_ttft_ms, 3)});
        t.add_row({"TPOT ms measured / predicted", opt(r->tpot_ms) + " / " + opt(r->predicted_tpot_ms, 3)});
        t.add_row({"max relative error", r->max_rel_error ? format_scientific(*r->max_rel_error, 2) : "-"});
        t.add_row({"stored rows",
                   std::to_string(r->op_rows) + " ops, " + std::to_string(r->collective_rows) + " collectives"});
        std::cout << t.render();
    }
}

void compare(const HistoryArgs& a, const GlobalOptions& options)
{
    if (a.ids.size() < 2)
        throw Error("history compare needs at least two run ids");
    RunStore store = open_store(a);
    // Time per op and collective kind: mean per rank per decode step. Collectives are named
    // as such in the table ("AllReduce (collective)"); a modeled one says so.
    std::map<std::string, std::map<std::int64_t, double>> per_kind;
    std::map<std::string, std::map<std::int64_t, double>> predicted_kind;
    std::map<std::string, std::string> kind_label;
    std::set<std::pair<std::string, std::int64_t>> modeled;
    std::vector<RunRecord> runs;
    for (const auto id : a.ids) {
        const auto r = store.get(id);
        if (!r)
            throw Error("no run " + std::to_string(id) + " in " + store.db().path());
        runs.push_back(*r);
        for (const KindComparison& k : compare_decode_by_kind(store, id)) {
            per_kind[k.kind][id] = k.measured_ms;
            if (k.predicted_ms)
                predicted_kind[k.kind][id] = *k.predicted_ms;
            if (k.modeled)
                modeled.emplace(k.kind, id);
            if (k.collective)
                kind_label[k.kind] = k.kind + (k.modeled ? " (collective, modeled)" : " (collective)");
        }
    }
    if (options.json) {
        OrderedJson j;
        OrderedJson list = OrderedJson::array();
        for (const auto& r : runs)
            list.push_back(run_json(r));
        j["runs"] = list;
        OrderedJson kinds;
        for (const auto& [kind, values] : per_kind)
            for (const auto& [id, ms] : values) {
                kinds[kind][std::to_string(id)]["measured"] = ms;
                if (modeled.count({kind, id}))
                    kinds[kind][std::to_string(id)]["modeled"] = true;
                if (predicted_kind[kind].count(id))
                    kinds[kind][std::to_string(id)]["predicted"] = predicted_kind[kind][id];
            }
        j["ms_per_decode_step_by_kind"] = kinds;
        print_json(j);
        return;
    }
    std::vector<std::string> header{"", "unit"};
    for (const auto& r : runs)
        header.push_back("run " + std::to_string(r.id));
    header.push_back("delta (last vs first)");
    TextTable t(header, std::vector<TextTable::Align>(header.size(), TextTable::Align::Right));
    auto row = [&](const std::string& name, const std::string& unit, auto getter) {
        std::vector<std::string> cells{name, unit};
        for (const auto& r : runs)
            cells.push_back(opt(getter(r), 3));
        const auto first = getter(runs.front());
        const auto last = getter(runs.back());
        cells.push_back(first && last && *first != 0 ? format_fixed(100.0 * (*last - *first) / *first, 1) + " %" : "-");
        t.add_row(cells);
    };
    row("TTFT measured", "ms", [](const RunRecord& r) { return r.ttft_ms; });
    row("TTFT predicted", "ms", [](const RunRecord& r) { return r.predicted_ttft_ms; });
    row("TPOT measured", "ms", [](const RunRecord& r) { return r.tpot_ms; });
    row("TPOT predicted", "ms", [](const RunRecord& r) { return r.predicted_tpot_ms; });
    auto lookup = [](const std::map<std::int64_t, double>& values, std::int64_t id) {
        const auto it = values.find(id);
        return it == values.end() ? std::optional<double>() : std::optional<double>(it->second);
    };
    for (const auto& [kind, values] : per_kind) {
        const std::string label = kind_label.count(kind) ? kind_label[kind] : kind;
        row(label + " measured", "ms/step", [&](const RunRecord& r) { return lookup(values, r.id); });
        row(label + " predicted", "ms/step", [&](const RunRecord& r) { return lookup(predicted_kind[kind], r.id); });
    }
    std::cout << t.render();
}

void export_runs(const HistoryArgs& a, const GlobalOptions& options)
{
    RunStore store = open_store(a);
    const auto runs = store.list(a.filter);
    std::string text;
    if (a.csv || (!options.json && !a.file.empty() && a.file.ends_with(".csv"))) {
        text = "id,started_at,status,model,topology,strategy,backend,ttft_ms,tpot_ms,tokens_per_s,predicted_ttft_ms,"
               "predicted_tpot_ms,max_rel_error,plan_hash\n";
        auto quote = [](const std::string& s) {
            std::string q = "\"";
            for (const char c : s)
                q += c == '"' ? std::string("\"\"") : std::string(1, c);
            return q + "\"";
        };
        auto num = [](const std::optional<double>& v) { return v ? format_fixed(*v, 6) : std::string(); };
        for (const auto& r : runs)
            text += std::to_string(r.id) + "," + r.started_at + "," + to_string(r.status) + "," + quote(r.model) + ","
                    + quote(r.topology) + "," + quote(r.strategy) + "," + r.backend + "," + num(r.ttft_ms) + ","
                    + num(r.tpot_ms) + "," + num(r.tokens_per_s) + "," + num(r.predicted_ttft_ms) + ","
                    + num(r.predicted_tpot_ms) + "," + (r.max_rel_error ? format_scientific(*r.max_rel_error, 3) : "")
                    + "," + r.plan_hash + "\n";
    } else {
        OrderedJson list = OrderedJson::array();
        for (const auto& r : runs)
            list.push_back(run_json(r));
        text = dump_json(list, 2) + "\n";
    }
    if (a.file.empty())
        std::cout << text;
    else
        write_text_file(a.file, text);
}

std::string percent(double fraction)
{
    return format_fixed(100.0 * fraction, 1) + " %";
}

void calibration(const HistoryArgs& a, const GlobalOptions& options)
{
    RunStore store = open_store(a);
    const Calibration fit = fit_calibration(store);
    if (options.json) {
        OrderedJson gpus = OrderedJson::array();
        for (const GpuFit& g : fit.gpus) {
            OrderedJson kinds = OrderedJson::array();
            for (const KindFit& k : g.kinds)
                kinds.push_back({{"kind", k.kind},
                                 {"collective", k.collective},
                                 {"runs", k.runs},
                                 {"scale", k.scale},
                                 {"ratio_low", k.ratio_low},
                                 {"ratio_high", k.ratio_high},
                                 {"median_error_before", k.median_error_before},
                                 {"median_error_after", k.median_error_after},
                                 {"held_out", k.held_out}});
            gpus.push_back({{"gpu", g.gpu}, {"runs", g.runs}, {"kinds", kinds}});
        }
        print_json(OrderedJson{{"gpus", gpus}, {"skipped", fit.skipped}});
        return;
    }
    if (fit.gpus.empty())
        std::cout << "No completed CUDA run in " << store.db().path()
                  << " to calibrate from: predictions use the measured tables and the roofline as they are.\n";
    for (const GpuFit& g : fit.gpus) {
        std::cout << g.gpu << ": " << g.runs.size() << " run" << (g.runs.size() == 1 ? "" : "s")
                  << "; the planner multiplies each kind's predicted time by its correction\n";
        TextTable table({"kind", "runs", "correction", "measured/predicted range", "error before", "error after"},
                        {TextTable::Align::Left, TextTable::Align::Right, TextTable::Align::Right,
                         TextTable::Align::Right, TextTable::Align::Right, TextTable::Align::Left});
        for (const KindFit& k : g.kinds)
            table.add_row({k.kind, std::to_string(k.runs), "x" + format_fixed(k.scale, 3),
                           format_fixed(k.ratio_low, 2) + " - " + format_fixed(k.ratio_high, 2),
                           percent(k.median_error_before),
                           percent(k.median_error_after) + (k.held_out ? "" : " (in-sample: one run)")});
        std::cout << table.render();
    }
    std::cout << "Errors are the median over runs of |predicted - measured| / measured per decode step; after: "
                 "each run predicted with the correction fitted on the others.\n";
    if (!fit.skipped.empty()) {
        std::cout << "Left out:\n";
        for (const auto& why : fit.skipped)
            std::cout << "  " << why << "\n";
    }
}

void profiles(const HistoryArgs& a, const GlobalOptions& options)
{
    RunStore store = open_store(a);
    const auto all = list_profiles(store);
    // The one the planner picks per GPU kind: the newest measured on real GPUs.
    std::map<std::string, std::int64_t> in_use;
    for (const auto& p : all)
        if (!p.host_model)
            in_use.try_emplace(p.gpu_kind, p.id);
    auto used = [&](const MachineProfile& p) {
        const auto it = in_use.find(p.gpu_kind);
        return it != in_use.end() && it->second == p.id;
    };
    if (options.json) {
        OrderedJson rows = OrderedJson::array();
        for (const auto& listed : all) {
            const MachineProfile p = *get_profile(store, listed.id);
            rows.push_back({{"id", p.id},
                            {"created_at", p.created_at},
                            {"gpu_kind", p.gpu_kind},
                            {"gpu_name", p.gpu_name},
                            {"devices", p.devices},
                            {"driver", p.driver},
                            {"cuda", p.cuda},
                            {"nccl", p.nccl},
                            {"quick", p.quick},
                            {"host_model", p.host_model},
                            {"in_use", used(p)},
                            {"measured", p.measured()},
                            {"notes", p.notes}});
        }
        print_json(OrderedJson{{"profiles", rows}});
        return;
    }
    if (all.empty()) {
        std::cout << "No profile in " << store.db().path()
                  << ": `shard-engine profile` measures this machine's GPUs; until then predictions use the "
                     "shipped tables.\n";
        return;
    }
    TextTable table({"id", "measured at", "GPUs", "driver / CUDA / NCCL", "sweep", "tables", "planner"},
                    {TextTable::Align::Right, TextTable::Align::Left, TextTable::Align::Left, TextTable::Align::Left,
                     TextTable::Align::Left, TextTable::Align::Left, TextTable::Align::Left});
    for (const auto& listed : all) {
        const MachineProfile p = *get_profile(store, listed.id);
        table.add_row({std::to_string(p.id), p.created_at, std::to_string(p.devices) + " x " + p.gpu_kind,
                       p.driver + " / " + p.cuda + " / " + p.nccl, p.quick ? "quick" : "full", p.measured(),
                       p.host_model ? "never (host model of CUDA: its times are not a GPU's)"
                       : used(p)    ? "in use for " + p.gpu_kind
                                    : "superseded by a newer one"});
    }
    std::cout << table.render();
}

} // namespace

void register_history_commands(CLI::App& app, const GlobalOptions& options)
{
    auto args = std::make_shared<HistoryArgs>();
    auto* history = app.add_subcommand("history", "Runs kept in the run database");
    history->require_subcommand(1);
    history->add_option("--db", args->db, "Run database (default: $XDG_DATA_HOME/shardstudio/runs.db)");
    auto filters = [args](CLI::App* cmd) {
        cmd->add_option("--model", args->filter.model, "Only runs of this model id");
        cmd->add_option("--topology", args->filter.topology, "Only runs on this topology id");
        cmd->add_option("--backend", args->filter.backend, "Only runs of this backend");
        cmd->add_option("--since", args->filter.since, "Only runs started at or after (UTC, e.g. 2026-11-01)");
        cmd->add_option("--limit", args->filter.limit, "At most this many runs, newest first (0: all)")
            ->capture_default_str();
    };
    auto* list_cmd = history->add_subcommand("list", "List runs, newest first");
    args->filter.limit = 100; // like a log: the newest page unless asked for more
    filters(list_cmd);
    list_cmd->callback([&options, args] { list(*args, options); });
    auto* show_cmd = history->add_subcommand("show", "Show a run");
    show_cmd->add_option("ID", args->ids, "Run id")->required();
    show_cmd->callback([&options, args] { show(*args, options); });
    auto* compare_cmd = history->add_subcommand("compare", "Compare runs side by side: predicted, measured, deltas");
    compare_cmd->add_option("IDS", args->ids, "Two or more run ids")->required();
    compare_cmd->callback([&options, args] { compare(*args, options); });
    auto* export_cmd = history->add_subcommand("export", "Export runs as JSON or CSV");
    filters(export_cmd);
    export_cmd->add_flag("--csv", args->csv, "CSV instead of JSON");
    export_cmd->add_option("FILE", args->file, "Write to a file instead of standard output");
    export_cmd->callback([&options, args, export_cmd] {
        if (export_cmd->get_option("--limit")->count() == 0)
            args->filter.limit = 0; // an export takes every run unless told otherwise
        export_runs(*args, options);
    });
    auto* calibration_cmd = history->add_subcommand(
        "calibration", "The correction stored CUDA runs fit per GPU and op kind, with the error before and after");
    calibration_cmd->callback([&options, args] { calibration(*args, options); });
    auto* profiles_cmd = history->add_subcommand(
        "profiles", "Profiles of this machine's GPUs (shard-engine profile) and which one the planner uses");
    profiles_cmd->callback([&options, args] { profiles(*args, options); });
    auto* delete_profile_cmd =
        history->add_subcommand("delete-profile", "Delete a profile: predictions fall back to an older one or the "
                                                  "shipped tables");
    delete_profile_cmd->add_option("ID", args->ids, "Profile id")->required()->expected(1);
    delete_profile_cmd->add_flag("--yes", args->yes, "Confirm the deletion");
    delete_profile_cmd->callback([args] {
        if (!args->yes)
            throw Error("history delete-profile removes profile " + std::to_string(args->ids.front())
                        + " and its tables for good; add --yes to confirm");
        RunStore store = open_store(*args, true);
        if (!remove_profile(store, args->ids.front()))
            throw Error("no profile " + std::to_string(args->ids.front()) + " in " + store.db().path());
        std::cout << "deleted profile " << args->ids.front() << "\n";
    });
    auto* delete_cmd = history->add_subcommand("delete", "Delete a run and its measurements");
    delete_cmd->add_option("ID", args->ids, "Run id")->required()->expected(1);
    delete_cmd->add_flag("--yes", args->yes, "Confirm the deletion");
    delete_cmd->callback([args] {
        if (!args->yes)
            throw Error("history delete removes run " + std::to_string(args->ids.front())
                        + " and its measurements for good; add --yes to confirm");
        RunStore store = open_store(*args, true);
        if (!store.remove(args->ids.front()))
            throw Error("no run " + std::to_string(args->ids.front()) + " in " + store.db().path());
        std::cout << "deleted run " << args->ids.front() << "\n";
    });
}

} // namespace shard::cli
