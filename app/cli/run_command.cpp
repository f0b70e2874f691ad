#include "commands.h"
#include "engine_process.h"

#include "cpu/cpu_executor.h"
#include "run/run_description.h"
#include "run/run_report.h"
#include "run/safetensors.h"
#include "store/run_store.h"

#include "core/units.h"
#include "cost/estimate.h"
#include "cuda/backend_info.h"
#include "cuda/engine_support.h"

#include <atomic>
#include <cmath>
#include <csignal>
#include <iostream>
#include <map>

namespace shard::cli {

namespace {

std::atomic<bool> g_cancel{false};

extern "C" void on_signal(int)
{
    g_cancel.store(true);
}

struct RunArgs {
    std::string file;
    run::RunRequest request;
    std::string trace;
    std::string db;
    bool no_store = false;
};

// Display groups shared by the measured and the predicted side.
std::string group_of(const std::string& kind)
{
    if (kind == "mlp_up" || kind == "activation" || kind == "mlp_down")
        return "mlp";
    return kind;
}

void print_summary(const Plan& plan, const run::RunResult& run, const run::RunCheck& check, const Estimate& predicted,
                   const Estimate& fp32)
{
    const int decode_steps = int(run.steps.size()) - 1;
    std::cout << "\nChecked against the unsharded forward: "
              << (std::isfinite(check.max_relative_error)
                      ? "max relative error " + format_scientific(check.max_relative_error, 2) + " (limit 1e-05)"
                      : std::string("FAILED, the run produced NaN or infinite values"))
              << ", greedy tokens " << (check.tokens_match ? "identical" : "DIFFERENT") << " in all "
              << run.steps.size() << " steps.\n";
    if (check.traffic_differences.empty()) {
        std::cout << "Collectives vs the planner (fp32 bytes): byte-exact on every rank and step"
                  << " (AllToAll: payloads exact, the split between peers follows the routing).\n";
    } else {
        std::cout << "Collectives vs the planner: " << check.traffic_differences.size() << " differences, e.g.\n";
        for (std::size_t i = 0; i < std::min<std::size_t>(5, check.traffic_differences.size()); ++i)
            std::cout << "  " << check.traffic_differences[i] << "\n";
    }
    if (decode_steps < 1)
        return;
    // Measured: per op group, ms per decode step on the busiest rank.
    std::map<std::string, double> measured;
    for (const auto& log : run.logs) {
        std::map<std::string, double> mine;
        for (const auto& op : log.ops)
            if (op.step > 0)
                mine[group_of(op.kind)] += op.us / 1000.0 / decode_steps;
        for (const auto& [k, v] : mine)
            measured[k] = std::max(measured[k], v);
    }
    // Predicted: the same groups on the busiest stage.
    std::map<std::string, double> expected;
    const PhaseCost& phase = predicted.decode;
    for (std::size_t i = 0; i < phase.stages.size(); ++i) {
        const StageCost& stage = phase.stages[i];
        std::map<std::string, double> mine;
        auto add = [&](const BlockCost* b, int count) {
            if (b && count > 0)
                for (const auto& op : b->ops)
                    mine[group_of(to_string(op.kind))] += op.time_us / 1000.0 * count * phase.microbatches;
        };
        add(phase.block("embedding"), stage.embedding ? 1 : 0);
        add(phase.block("dense layer"), stage.dense_layers);
        add(phase.block("moe layer"), stage.moe_layers);
        add(phase.block("lm head"), stage.lm_head ? 1 : 0);
        for (const auto& [k, v] : mine)
            expected[k] = std::max(expected[k], v);
    }
    std::cout << "\nTime per decode step by op (busiest rank / busiest stage):\n";
    TextTable ops({"op", "measured ms (this CPU, fp32)",
                   "predicted ms (" + plan.topology.gpu.name + ", " + to_string(plan.workload.dtype) + ")"},
                  {TextTable::Align::Left, TextTable::Align::Right, TextTable::Align::Right});
    for (const auto& [k, v] : expected)
        ops.add_row({k, measured.count(k) ? format_fixed(measured[k], 3) : "-", format_fixed(v, 4)});
    std::cout << ops.render();

    // Bytes per collective per decode step on rank 0, measured next to predicted (fp32).
    struct Tally {
        double calls = 0, bytes = 0, predicted_calls = 0, predicted_bytes = 0;
        std::string group;
    };
    std::map<std::pair<std::string, std::int64_t>, Tally> rows;
    for (const auto& r : run.logs.front().records) {
        if (r.step == 0 || r.control)
            continue;
        Tally& t = rows[{to_string(r.kind), r.payload}];
        t.group = r.group + " (" + std::to_string(r.group_size) + ")";
        t.calls += 1.0 / decode_steps;
        t.bytes += double(r.kind == CollectiveKind::SendRecv ? r.sent + r.received : r.received) / decode_steps;
    }
    const PhaseCost& p32 = fp32.decode;
    const StageCost& s0 = p32.stages.front();
    auto add32 = [&](const BlockCost* b, int count) {
        if (!b || count == 0)
            return;
        for (const auto& c : b->collectives) {
            Tally& t = rows[{to_string(c.op), c.payload}];
            if (t.group.empty())
                t.group = c.axis + " (" + std::to_string(c.group) + ")";
            t.predicted_calls += double(c.calls) * count * p32.microbatches;
            t.predicted_bytes += double(c.traffic) * count * p32.microbatches;
        }
    };
    add32(p32.block("embedding"), s0.embedding ? 1 : 0);
    add32(p32.block("dense layer"), s0.dense_layers);
    add32(p32.block("moe layer"), s0.moe_layers);
    add32(p32.block("lm head"), p32.stages.size() == 1 ? 1 : 0);
    add32(p32.block("stage handoff"), p32.stages.size() > 1 ? 1 : 0);
    if (rows.empty())
        return;
    std::cout << "\nCollectives per decode step on rank 0 (bytes received, fp32):\n";
    TextTable comm({"collective", "group", "payload", "calls", "predicted calls", "measured bytes", "predicted bytes"},
                   {TextTable::Align::Left, TextTable::Align::Left, TextTable::Align::Right, TextTable::Align::Right,
                    TextTable::Align::Right, TextTable::Align::Right, TextTable::Align::Right});
    for (const auto& [key, t] : rows)
        comm.add_row({key.first, t.group, format_count(key.second) + " B", format_fixed(t.calls, 0),
                      format_fixed(t.predicted_calls, 0), format_count(std::int64_t(t.bytes)),
                      key.first == "AllToAll" ? "(routing)" : format_count(std::int64_t(t.predicted_bytes))});
    std::cout << comm.render();
}

// A locked database is waited for, but never past a Ctrl-C or SIGTERM.
std::unique_ptr<RunStore> open_run_store(const RunArgs& args)
{
    LockWait wait;
    wait.cancel = &g_cancel;
    return std::make_unique<RunStore>(args.db.empty() ? RunStore::default_path() : args.db, SqliteDb::Mode::ReadWrite,
                                      wait);
}

// The cuda backends run in shard-engine, a separate process: its events are stored as they
// arrive and echoed with --json; its own progress and summary come through stderr.
// Tells a reader of the stream (the studio) which run in which database holds these events.
run::StoredEvent stored_event(std::int64_t run_id, RunStore& store)
{
    return {run_id, store.db().path()};
}

int run_on_engine(const run::RunDescription& described, const RunArgs& args, const GlobalOptions& options)
{
    const Plan& plan = described.plan;
    const std::string backend = run::to_string(described.backend);
    const auto info = cuda::backend_info();
    const std::string engine = find_engine();
    if (!info.compiled || engine.empty())
        throw Error("backend '" + backend + "' is not available: this build has no CUDA engine"
                    + (info.compiled ? std::string(" (shard-engine not found beside shardstudio-cli or on PATH)")
                                     : std::string(" (built without the CUDA toolkit)")));
    // Refused here, before a process starts, with the engine's own reason.
    if (const auto why = cuda::gpu_unsupported_reason(plan.model, plan.strategy); !why.empty())
        throw Error("backend '" + backend + "' cannot run this plan: " + why);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::unique_ptr<RunStore> store;
    if (!args.no_store)
        store = open_run_store(args);
    // The engine takes the run as described here, on its standard input.
    const std::vector<std::string> engine_args{"run", "--description", "-"};
    const std::string description = dump_json(run::run_description_to_json(described));
    bool started = false, finished = false;
    std::string last_error;
    const std::string plan_json = dump_json(plan_to_json(plan));
    auto on_line = [&](const std::string& line) {
        run::Event event;
        try {
            event = run::parse_event_line(line);
        } catch (const Error&) {
            std::cerr << line << "\n"; // not an event: pass it on
            return;
        }
        const std::string kind = run::kind_of(event);
        started = started || kind == "start";
        finished = finished || kind == "result" || kind == "error";
        if (const auto* error = std::get_if<run::ErrorEvent>(&event))
            last_error = error->message;
        // Stored before shown, as for the cpu backend; an error before the start is not a run.
        std::int64_t run_id = 0;
        if (store && (started || kind != "error"))
            run_id = store->ingest(event, kind == "start" ? plan_json : std::string());
        if (options.json && (started || kind != "error")) // a refusal is printed by main()
            std::cout << line << std::endl;
        if (options.json && kind == "start" && store)
            std::cout << run::to_line(stored_event(run_id, *store)) << std::endl;
    };
    const int code = run_engine(engine, engine_args, description, on_line, [] { return g_cancel.load(); });
    if (started && !finished) { // crashed or killed: the run is kept as failed with what it measured
        const std::string why = "shard-engine ended without a result (exit code " + std::to_string(code) + ")";
        if (store)
            store->ingest(run::ErrorEvent{"failed", why});
        std::cerr << "error: " << why << "\n";
    }
    if (store)
        store->flush();
    if (!started && !last_error.empty()) // refused before it started: an error like any other
        throw Error(last_error);
    return code == 0 ? 0 : code;
}

int run_plan_file(const RunArgs& args, const GlobalOptions& options)
{
    const run::RunDescription described = run::describe_run(load_plan(args.file), args.request);
    if (described.on_gpu())
        return run_on_engine(described, args, options);
    const Plan& plan = described.plan;
    // Ctrl-C / SIGTERM from here on stop the run cleanly (an error event, exit code 130).
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const int steps = described.steps();
    // Every event goes to stdout (--json) and into the run store as it happens, so a run
    // killed halfway keeps what it measured.
    std::unique_ptr<RunStore> store;
    if (!args.no_store)
        store = open_run_store(args);
    auto emit = [&](const run::Event& e) {
        // Stored before shown: whatever a reader of the stream has seen is in the database.
        const bool start = std::holds_alternative<run::StartEvent>(e);
        std::int64_t run_id = 0;
        if (store)
            run_id = store->ingest(e, start ? dump_json(plan_to_json(plan)) : std::string());
        if (options.json)
            std::cout << run::to_line(e) << std::endl;
        if (options.json && start && store)
            std::cout << run::to_line(stored_event(run_id, *store)) << std::endl;
    };
    const std::string backend = run::to_string(described.backend);
    emit(run::start_event(plan, backend, steps));
    if (!options.json)
        std::cout << "Running " << plan.name << " on the CPU reference backend: " << plan.strategy.devices()
                  << " ranks (" << plan.strategy.label() << "), batch " << plan.workload.batch << ", prompt "
                  << plan.workload.prompt << ", " << steps - 1 << " decode steps, fp32\n";
    Workload fp32 = plan.workload;
    fp32.dtype = DType::FP32;
    fp32.kv_dtype = DType::FP32;
    const Estimate predicted = estimate(plan.model, plan.strategy, plan.topology, plan.workload);
    const Estimate predicted32 = estimate(plan.model, plan.strategy, plan.topology, fp32);
    const run::PredictionIndex predictions(plan.model, predicted, predicted32);
    cpu::CpuRunOptions run_options;
    run_options.decode_steps = steps - 1;
    run_options.cancel = &g_cancel;
    // Rank 0's measurements are emitted as each step ends; the other ranks' after the run.
    run::RankEventStream rank0(0, predictions, emit);
    run_options.on_step = [&](int step, int total, const RankLog& log) {
        emit(run::ProgressEvent{step + 1, total});
        rank0.flush(log);
        if (!options.json)
            std::cerr << "\rstep " << step + 1 << "/" << total << std::flush;
    };
    run::RunResult run;
    try {
        const run::ModelWeights weights = described.weights.empty()
                                              ? run::ModelWeights(plan.model, described.seed)
                                              : run::load_safetensors(plan.model, described.weights);
        run = cpu::run_cpu(plan, weights, run_options);
        if (!options.json)
            std::cerr << "\n";
        const auto reference = cpu::run_reference(plan, weights, steps - 1, &g_cancel);
        const run::RunCheck check = run::check_run(run, reference, predicted32, plan.strategy.pp);
        if (!args.trace.empty())
            write_text_file(args.trace, dump_json(run::chrome_trace(run, plan.name)) + "\n");
        rank0.flush(run.logs[0]);
        for (std::size_t rank = 1; rank < run.logs.size(); ++rank)
            run::RankEventStream(int(rank), predictions, emit).flush(run.logs[rank]);
        emit(run::result_event(plan, backend, run, check, predicted));
        if (store)
            store->flush();
        if (!options.json) {
            print_summary(plan, run, check, predicted, predicted32);
            if (!args.trace.empty())
                std::cout << "\nTrace written to " << args.trace << " (open it in Perfetto or chrome://tracing)\n";
        }
        const bool ok = check.tokens_match && check.max_relative_error < 1e-5 && check.traffic_differences.empty();
        return ok ? 0 : 4;
    } catch (const run::Cancelled&) {
        emit(run::ErrorEvent{"cancelled", "run cancelled by signal"});
        std::cerr << "\nrun cancelled\n";
        return 130;
    } catch (const StoreError&) {
        throw;
    } catch (const std::exception& e) {
        // Ours or a library's (a bad_alloc, say): either way the run is kept as failed with
        // the message, never left "running"; main prints it.
        if (store)
            store->ingest(run::ErrorEvent{"failed", e.what()});
        if (dynamic_cast<const Error*>(&e))
            throw;
        throw Error(e.what());
    }
}

} // namespace

void register_run_commands(CLI::App& app, const GlobalOptions& options, int& exit_code)
{
    auto args = std::make_shared<RunArgs>();
    auto* run = app.add_subcommand("run", "Run a plan for real and check it against the reference and the planner");
    run->add_option("FILE", args->file, "A *.shardplan.json")->required();
    run->add_option("--backend", args->request.backend,
                    "cpu (reference, fp32), cuda (one GPU per rank) or cuda-emulated (every rank on GPU 0)")
        ->capture_default_str();
    run->add_option("--dtype", args->request.dtype, "cuda backends: bf16, fp16 or fp32")->capture_default_str();
    run->add_option("--graphs", args->request.graphs, "cuda backends: replay decode steps from a CUDA graph (on/off)")
        ->capture_default_str();
    run->add_option("--overlap", args->request.overlap, "cuda backends: overlap communication with compute (on/off)")
        ->capture_default_str();
    run->add_option("--trace", args->trace, "Write a Chrome trace (Perfetto) of every rank's ops and collectives");
    run->add_option("--steps", args->request.steps, "Decode steps (default: the plan's generated tokens)")
        ->check(in_range(limits::kDecodeSteps));
    run->add_option("--seed", args->request.seed, "Seed of the generated weights")->capture_default_str();
    run->add_option("--weights", args->request.weights,
                    "Read the weights from a .safetensors file (ShardStudio tensor names)");
    run->add_option("--db", args->db, "Run database (default: $XDG_DATA_HOME/shardstudio/runs.db)");
    run->add_flag("--no-store", args->no_store, "Do not keep the run in the database");
    run->callback([&options, &exit_code, args] { exit_code = run_plan_file(*args, options); });
}

} // namespace shard::cli
