#include "engine_commands.h"
#include "profile_command.h"

#include "core/checked_number.h"

#include "cpu/cpu_executor.h"
#include "cuda/backend_info.h"
#include "cuda/collective_check.h"
#include "cuda/gpu_bench.h"
#include "cuda/gpu_devices.h"
#include "cuda/gpu_executor.h"
#include "cuda/gpu_selftest.h"
#include "cuda/moe_kernel_check.h"

#include "run/run_description.h"
#include "run/run_report.h"
#include "run/safetensors.h"

#include "core/json_util.h"
#include "core/plan.h"
#include "core/units.h"
#include "cost/estimate.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <iostream>
#include <iterator>

namespace shard::engine {

namespace {

std::atomic<bool> g_cancel{false};

extern "C" void on_signal(int)
{
    g_cancel.store(true);
}

void emit(const run::Event& event)
{
    std::cout << run::to_line(event) << std::endl;
}

std::string read_standard_input()
{
    return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
}

} // namespace

run::RunDescription describe(const RunArgs& args)
{
    if (!args.description.empty() && !args.file.empty())
        throw Error("give a plan FILE or --description, not both");
    if (!args.description.empty()) { // shardstudio-cli checked it: taken as it stands
        run::RunDescription run =
            args.description == "-"
                ? run::run_description_from_text(read_standard_input(), "standard input")
                : run::run_description_from_text(read_text_file(args.description), args.description);
        cuda::usable_backend();
        return run;
    }
    cuda::usable_backend();
    if (args.file.empty())
        throw Error("give a plan FILE (a *.shardplan.json) or --description");
    run::RunDescription run = run::describe_run(load_plan(args.file), args.request);
    if (!run.on_gpu())
        throw Error("backend 'cpu' runs in shardstudio-cli (shard-engine runs cuda or cuda-emulated)");
    if (const auto why = cuda::gpu_unsupported_reason(run.plan.model, run.plan.strategy); !why.empty())
        throw Error("the plan cannot run on the CUDA engine: " + why);
    return run;
}

int run_plan_with(const run::RunDescription& described, const GpuRunner& runner, bool report, bool processes)
{
    const std::string backend = run::to_string(described.backend);
    const std::string dtype = to_string(described.dtype);
    cuda::GpuRunOptions options;
    options.dtype = cuda::gpu_dtype_of(described.dtype);
    options.graphs = described.graphs;
    options.overlap = described.overlap;
    options.thread_per_gpu = described.thread_per_gpu;
    options.emulated = described.backend == run::Backend::CudaEmulated;
    options.decode_steps = described.decode_steps;
    options.cancel = &g_cancel;
    const Plan plan = described.priced_plan();
    const int steps = described.steps();
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    run::StartEvent start = run::start_event(plan, backend, steps);
    const OrderedJson devices = cuda::describe_devices();
    start.environment.gpus.clear();
    for (const auto& g : devices["gpus"])
        start.environment.gpus.push_back(g["name"].get<std::string>());
    start.environment.driver = devices["driver"].get<std::string>();
    start.environment.cuda = devices["cuda_runtime"].get<std::string>();
    start.environment.nccl = devices["nccl"].get<std::string>();
    start.environment.dtype = dtype;
    start.dtype = dtype;
    start.graphs = cuda::gpu_graphs_apply(plan, options.graphs);
    const bool expert_parallel = plan.model.is_moe() && plan.strategy.ep > 1;
    start.overlap = options.overlap && plan.strategy.tensor_size() > 1 && !expert_parallel;
    auto add_note = [&](const std::string& note) { start.note = start.note ? *start.note + "; " + note : note; };
    if (options.graphs && !cuda::gpu_graphs_apply(plan, true))
        add_note(cuda::gpu_graphs_note(plan));
    if (options.overlap && plan.strategy.tensor_size() == 1)
        add_note("--overlap on has nothing to overlap: the plan has no tensor group");
    else if (options.overlap && expert_parallel)
        add_note(
            "--overlap is off for expert-parallel plans: their all-to-alls are sized on the host, in stream order");
    start.network = options.emulated ? "modeled" : "measured";
    start.host_threads = options.emulated || plan.strategy.devices() == 1 ? "one"
                         : processes                                      ? "a process per GPU (MPI)"
                         : options.thread_per_gpu                         ? "per-gpu"
                                                                          : "one";
    if (report)
        emit(start);
    const Estimate predicted = estimate(plan.model, plan.strategy, plan.topology, plan.workload);
    const run::PredictionIndex predictions(plan.model, predicted, predicted);
    run::RankEventStream rank0(0, predictions, emit);
    options.on_step = [&](int step, int total, const RankLog& log) {
        if (!report)
            return;
        emit(run::ProgressEvent{step + 1, total});
        rank0.flush(log);
        std::cerr << "\rstep " << step + 1 << "/" << total << std::flush;
    };
    try {
        const bool small = run::reference_unsupported_reason(plan.model).empty();
        const run::ModelWeights weights = described.weights.empty()
                                              ? run::ModelWeights(plan.model, described.seed, false)
                                              : run::load_safetensors(plan.model, described.weights);
        const std::optional<cuda::GpuRunResult> merged = runner(plan, weights, options);
        if (!report || !merged)
            return 0; // another process reports the run
        const cuda::GpuRunResult& run = *merged;
        std::cerr << "\n";
        for (std::size_t rank = 1; rank < run.run.logs.size(); ++rank)
            run::RankEventStream(int(rank), predictions, emit).flush(run.run.logs[rank]);
        // Models small enough for the CPU reference are checked against it.
        run::RunCheck check;
        if (small) {
            const auto reference = cpu::run_reference(plan, weights, steps - 1, &g_cancel);
            check = cuda::check_gpu_run(run, reference, predicted);
        } else {
            for (const auto& t : run.times)
                check.step_ms.push_back(t.total_ms());
        }
        run::ResultEvent result = run::result_event(plan, backend, run.run, check, predicted);
        result.dtype = dtype;
        result.checked = small;
        result.tolerance = cuda::tolerance(options.dtype);
        result.network = options.emulated ? "modeled" : "measured";
        for (const auto& t : run.times)
            result.step_times.push_back({t.compute_ms, t.network_ms, t.gpu_ms, t.graph});
        result.weight_bytes_per_rank = run.weight_bytes;
        result.workspace_bytes_per_rank = run.workspace_bytes;
        emit(result);
        std::cerr << "TTFT " << format_fixed(check.step_ms.empty() ? 0 : check.step_ms.front(), 3) << " ms measured"
                  << (options.emulated ? " (compute measured, network modeled)" : "") << ", predicted "
                  << format_fixed(predicted.ttft_ms, 3) << " ms\n";
        if (small)
            std::cerr << "Checked against the fp32 CPU reference: max relative error "
                      << format_scientific(check.max_relative_error, 2) << " (limit "
                      << format_scientific(cuda::tolerance(options.dtype), 0) << "), greedy tokens "
                      << (check.tokens_match ? "identical" : "different") << "\n";
        const bool ok =
            !small
            || (check.max_relative_error < cuda::tolerance(options.dtype)
                && (options.dtype != cuda::GpuDType::F32 || check.tokens_match) && check.traffic_differences.empty());
        return ok ? 0 : 4;
    } catch (const run::Cancelled&) {
        if (report)
            emit(run::ErrorEvent{"cancelled", "run cancelled by signal"});
        return 130;
    }
}

namespace {

int run_plan(const RunArgs& args)
{
    return run_plan_with(
        describe(args),
        [](const Plan& plan, const run::ModelWeights& weights, const cuda::GpuRunOptions& options) {
            return std::optional<cuda::GpuRunResult>(cuda::run_gpu(plan, weights, options));
        },
        true, false);
}

int selftest(const std::string& dtype_arg, bool json, const std::string& filter, int repeat, const std::string& graphs,
             int prompt, int generate)
{
    const auto info = cuda::backend_info();
    if (!info.usable()) {
        const std::string why = info.compiled ? info.reason : "not compiled";
        if (json)
            emit(run::OtherEvent{"selftest", {{"skipped", true}, {"reason", why}}});
        std::cerr << "selftest skipped: " << why << "\n";
        return 77; // ctest's skip code
    }
    std::vector<cuda::GpuDType> dtypes;
    if (dtype_arg == "all")
        dtypes = {cuda::GpuDType::F32, cuda::GpuDType::BF16, cuda::GpuDType::F16};
    else
        dtypes = {cuda::parse_gpu_dtype(dtype_arg)};
    int failed = 0;
    int ran = 0;
    auto report = [&](const OrderedJson& fields) { emit(run::OtherEvent{"selftest", fields}); };
    for (const auto& test : cuda::selftest_cases(dtypes, info.device_count)) {
        if (!filter.empty() && test.name.find(filter) == std::string::npos)
            continue;
        for (int again = 0; again < repeat; ++again) {
            ++ran;
            cuda::SelftestCase run_case = test;
            if (!graphs.empty())
                run_case.graphs = run::parse_on_off(graphs, "--graphs");
            if (prompt > 0)
                run_case.plan.workload.prompt = prompt;
            if (generate > 0)
                run_case.plan.workload.generate = generate;
            const auto r = cuda::run_selftest_case(
                run_case, [](const Plan& p, const run::ModelWeights& w) { return cpu::run_reference(p, w); });
            failed += r.passed ? 0 : 1;
            if (json)
                report(cuda::to_json(r));
            std::cerr << (r.passed ? "PASS " : "FAIL ") << test.name << ": max rel error "
                      << format_scientific(r.max_relative_error, 2) << " (limit " << format_scientific(r.limit, 0)
                      << "), tokens " << (r.tokens_match ? "identical" : "differ") << ", collectives "
                      << (r.traffic_exact ? "as planned" : "DIFFER") << (r.error.empty() ? "" : " - " + r.error)
                      << "\n";
            if (!r.passed)
                std::cerr << "     per step (error/sequences with another token): " << r.detail << "\n";
        }
    }
    // Kernel and collective cases: the ones the filter names, in the dtypes asked for.
    auto selected = [&](const auto& test) {
        return (filter.empty() || test.name.find(filter) != std::string::npos)
               && std::find(dtypes.begin(), dtypes.end(), test.dtype) != dtypes.end();
    };
    // The MoE kernels on their own: a failure there explains a failing tiny-moe case above.
    for (const auto& test : cuda::moe_kernel_cases()) {
        if (!selected(test))
            continue;
        ++ran;
        const auto r = cuda::run_moe_kernel_case(test);
        failed += r.passed ? 0 : 1;
        if (json)
            report(cuda::to_json(r));
        std::cerr << (r.passed ? "PASS " : "FAIL ") << test.name << ": max rel error "
                  << format_scientific(r.max_relative_error, 2) << " (limit " << format_scientific(r.limit, 0) << ")"
                  << (r.failure.empty() ? "" : " - " + r.failure) << "\n";
    }
    // The collectives on their own, bit for bit against the host.
    for (const auto& test : cuda::collective_cases(info.device_count)) {
        if (!selected(test))
            continue;
        ++ran;
        const auto r = cuda::run_collective_case(test);
        failed += r.passed ? 0 : 1;
        if (json)
            report(cuda::to_json(r));
        std::cerr << (r.passed ? "PASS " : "FAIL ") << test.name << (r.failure.empty() ? "" : " - " + r.failure)
                  << "\n";
    }
    std::cerr << ran - failed << " of " << ran << " cases passed\n";
    return failed == 0 ? 0 : 1;
}

} // namespace

std::string error_line(const std::string& message)
{
    return run::to_line(run::ErrorEvent{"failed", message});
}

void add_run_options(CLI::App* run, RunArgs& args)
{
    run->add_option("FILE", args.file, "A *.shardplan.json");
    run->add_option("--description", args.description,
                    "A run as shardstudio-cli describes it (JSON; - reads standard input), instead of FILE");
    run->add_option("--dtype", args.request.dtype, "bf16, fp16 or fp32")->capture_default_str();
    run->add_option("--graphs", args.request.graphs, "Replay decode steps from a CUDA graph: on or off")
        ->capture_default_str();
    run->add_option("--overlap", args.request.overlap, "Overlap communication with compute: on or off")
        ->capture_default_str();
    run->add_option("--steps", args.request.steps, "Decode steps (default: the plan's generated tokens)")
        ->check(CLI::Range(limits::kDecodeSteps.min, limits::kDecodeSteps.max));
    run->add_option("--seed", args.request.seed, "Seed of the generated weights")->capture_default_str();
    run->add_option("--weights", args.request.weights, "Read the weights from a .safetensors file");
}

void install_signal_handlers()
{
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
}

bool cancel_requested()
{
    return g_cancel.load();
}

void register_commands(CLI::App& app, int& exit_code)
{
    auto args = std::make_shared<RunArgs>();
    auto* run = app.add_subcommand("run", "Run a plan on the GPU and stream events (JSON Lines) on stdout");
    add_run_options(run, *args);
    run->add_option("--backend", args->request.backend, "cuda (one GPU per rank) or cuda-emulated (all ranks on GPU 0)")
        ->capture_default_str();
    run->add_option("--threads", args->request.threads,
                    "Host threads driving real GPUs: per-gpu (one each) or one (all GPUs in lockstep)")
        ->capture_default_str();
    run->callback([&exit_code, args] { exit_code = run_plan(*args); });

    auto dtype = std::make_shared<std::string>("all");
    auto json = std::make_shared<bool>(false);
    auto filter = std::make_shared<std::string>();
    auto repeat = std::make_shared<int>(1);
    auto graphs = std::make_shared<std::string>();
    auto prompt = std::make_shared<int>(0);
    auto generate = std::make_shared<int>(0);
    auto* test = app.add_subcommand(
        "selftest", "Run every layout the engine supports on the GPU and check it against the CPU reference");
    test->add_option("--dtype", *dtype, "fp32, bf16, fp16 or all")->capture_default_str();
    test->add_flag("--json", *json, "One JSON line per case on stdout");
    test->add_option("--filter", *filter, "Only the cases whose name contains this text");
    test->add_option("--repeat", *repeat, "Run each case this many times")->capture_default_str();
    test->add_option("--graphs", *graphs, "Force CUDA graphs for decode steps on or off");
    test->add_option("--prompt", *prompt, "Prompt tokens of every case (default 12)");
    test->add_option("--generate", *generate, "Decode steps of every case (default 6)");
    test->callback([&exit_code, dtype, json, filter, repeat, graphs, prompt, generate] {
        exit_code = selftest(*dtype, *json, *filter, *repeat, *graphs, *prompt, *generate);
    });

    auto bench_options = std::make_shared<cuda::BenchOptions>();
    auto bench_out = std::make_shared<std::string>();
    auto* bench =
        app.add_subcommand("bench", "GPU benchmarks: GEMMs, a Llama-3.1-70B layer, graphs, emulated collectives");
    bench->add_flag("--quick", bench_options->quick, "Fewer shapes and repetitions");
    bench->add_option("--json", *bench_out, "Also write every figure to this JSON file");
    bench->callback([&exit_code, bench_options, bench_out] {
        cuda::usable_backend();
        std::string report;
        const OrderedJson result = cuda::run_bench(*bench_options, report);
        std::cout << report;
        if (!bench_out->empty())
            write_text_file(*bench_out, dump_json(result, 2) + "\n");
        exit_code = 0;
    });

    register_profile_command(app, exit_code);

    auto devices_json = std::make_shared<bool>(false);
    auto* devices = app.add_subcommand("devices", "GPUs, memory, peer access, driver, CUDA and NCCL versions");
    devices->add_flag("--json", *devices_json, "As JSON");
    devices->callback([&exit_code, devices_json] {
        const OrderedJson j = cuda::describe_devices();
        std::cout << (*devices_json ? dump_json(j, 2) + "\n" : cuda::format_devices(j));
        exit_code = 0;
    });
}

} // namespace shard::engine
