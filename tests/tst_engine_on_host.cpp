// The CUDA engine's host code (GpuModel, GpuMesh, the emulated collectives, the shared
// expert groups) on a host model of CUDA (engine/cuda/host_model): the selftest's layouts in
// fp32, bf16 and fp16 run with every rank emulated and on eight "GPUs", each checked like
// `shard-engine selftest` checks it (the CPU reference's hidden states and, in fp32, greedy
// tokens; the planner's collectives byte for byte). Built twice: tst_engine_on_host with
// host loops for the kernels (quick: the engine's shards, buffers, collectives and their
// order), tst_engine_kernels_on_host with the engine's own CUDA kernels run on CPU fibers
// (SHARD_ENGINE_DEVICE_KERNELS). Which cases each runs in which tier is decided in
// engine_case_selection.cpp.
#include "cpu/cpu_executor.h"
#include "cuda/collective_check.h"
#include "cuda/gpu_run_parts.h"
#include "cuda/gpu_selftest.h"
#include "cuda/moe_kernel_check.h"
#include "host_streams.h"

#include "engine_case_selection.h"
#include "test_tier.h"

#include "core/strategy.h"
#include "run/model_weights.h"

#include <QtTest>

#include <map>
#include <set>
#include <sstream>

using namespace shard;

namespace {

constexpr test::KernelBuild kBuild =
#if defined(SHARD_ENGINE_DEVICE_KERNELS)
    test::KernelBuild::DeviceKernels;
#else
    test::KernelBuild::HostLoops;
#endif

// A tier or build may select no case of a matrix (with sanitizers, the kernels run fp32
// alone); its test function then says so instead of running nothing silently.
#define FETCH_CASE_OR_SKIP(index)                                                                                      \
    if (!QTest::currentDataTag())                                                                                      \
        QSKIP("this tier selects none of these cases in this build (engine_case_selection.h)");                        \
    QFETCH(int, index)

void addRows(const std::vector<cuda::SelftestCase>& cases)
{
    QTest::addColumn<int>("index");
    for (std::size_t i = 0; i < cases.size(); ++i)
        if (test::selected(cases[i], kBuild))
            QTest::newRow(cases[i].name.c_str()) << int(i);
}

// The words of a case's kind after its tensor layout ("pp", "moe", "gqa", ...).
std::set<std::string> featuresOf(const cuda::SelftestCase& c)
{
    std::set<std::string> words;
    std::istringstream in(test::layoutKind(c));
    std::string word;
    in >> word; // the tensor layout
    while (in >> word)
        words.insert(word);
    return words;
}

} // namespace

class TestEngineOnHost : public QObject {
    Q_OBJECT

    // Runs a case as `shard-engine selftest` does and says what differs.
    // Runs a case under one schedule of the host model's streams.
    static void check(const cuda::SelftestCase& test, cuda::host::Schedule schedule)
    {
        cuda::host::set_schedule(schedule);
        const cuda::SelftestResult r = cuda::run_selftest_case(
            test, [](const Plan& p, const run::ModelWeights& w) { return cpu::run_reference(p, w); });
        cuda::host::set_schedule(cuda::host::Schedule::AtOnce);
        QVERIFY2(r.error.empty(), r.error.c_str());
        if (test.dtype == cuda::GpuDType::F32) // 16-bit types may pick another near-tie token
            QVERIFY2(r.tokens_match, r.detail.c_str());
        QVERIFY2(r.traffic_exact, r.error.c_str());
        QVERIFY2(r.max_relative_error < (test.dtype == cuda::GpuDType::F32 ? 1e-5 : 2e-2), r.detail.c_str());
        QVERIFY(r.passed);
    }

    // One driver thread for every rank (emulated, or --threads one): its streams run
    // deferred, so a missing wait between them shows as a wrong result; with overlap (a
    // communication stream beside each compute stream) once with every stream lazy and
    // once with the compute streams lagging. Expert groups across replicas run each
    // replica from a host thread of its own: their streams run their work at once.
    static void check(const cuda::SelftestCase& test)
    {
        using cuda::host::Schedule;
        const Strategy& s = test.plan.strategy;
        const bool one_thread = (test.emulated || !test.thread_per_gpu) && !(s.ep > 1 && s.dp > 1);
        check(test, one_thread ? Schedule::Lazy : Schedule::AtOnce);
        if (one_thread && test.overlap && !QTest::currentTestFailed())
            check(test, Schedule::ComputeLags);
    }

private slots:
    void layouts_data() { addRows(test::fp32Cases()); }

    void layouts()
    {
        FETCH_CASE_OR_SKIP(index);
        check(test::fp32Cases()[std::size_t(index)]);
    }

    void layoutsOnEightGpus_data() { addRows(test::eightGpuCases()); }

    void layoutsOnEightGpus()
    {
        FETCH_CASE_OR_SKIP(index);
        QVERIFY(!test::eightGpuCases()[std::size_t(index)].emulated);
        check(test::eightGpuCases()[std::size_t(index)]);
    }

    void halfPrecisionLayouts_data() { addRows(test::halfCases()); }

    void halfPrecisionLayouts()
    {
        FETCH_CASE_OR_SKIP(index);
        check(test::halfCases()[std::size_t(index)]);
    }

    // The selftest's MoE kernel check: routing, grouping by expert, permute and weighted
    // un-permute against the CPU reference's routing, in fp32, bf16 and fp16.
    void moeKernels_data()
    {
        QTest::addColumn<int>("index");
        const auto cases = cuda::moe_kernel_cases();
        for (std::size_t i = 0; i < cases.size(); ++i)
            QTest::newRow(cases[i].name.c_str()) << int(i);
    }

    void moeKernels()
    {
        QFETCH(int, index);
        const cuda::MoeKernelResult r = cuda::run_moe_kernel_case(cuda::moe_kernel_cases()[std::size_t(index)]);
        QVERIFY2(r.passed, r.failure.c_str());
        QVERIFY(r.max_relative_error <= r.limit);
    }

    // The selftest's collective check, bit for bit: emulated groups of 2, 4 and 8 on one
    // "GPU", and the NCCL model over eight.
    void collectives_data()
    {
        QTest::addColumn<int>("index");
        const auto cases = cuda::collective_cases(8);
        for (std::size_t i = 0; i < cases.size(); ++i)
            QTest::newRow(cases[i].name.c_str()) << int(i);
    }

    void collectives()
    {
        QFETCH(int, index);
        const cuda::CollectiveCheckResult r = cuda::run_collective_case(cuda::collective_cases(8)[std::size_t(index)]);
        QVERIFY2(r.passed, r.failure.c_str());
    }

#if !defined(SHARD_ENGINE_DEVICE_KERNELS) // host code only: the host loops suffice
    // Item 5's habit: every workspace is allocated before the first step, none inside the
    // step loop (the first selected case of each kind).
    void noAllocationInTheStepLoop_data()
    {
        QTest::addColumn<int>("index");
        std::set<std::string> kinds;
        const auto& cases = test::fp32Cases();
        for (std::size_t i = 0; i < cases.size(); ++i)
            if (test::selected(cases[i], kBuild) && kinds.insert(test::layoutKind(cases[i])).second)
                QTest::newRow(cases[i].name.c_str()) << int(i);
    }

    void noAllocationInTheStepLoop()
    {
        QFETCH(int, index);
        const cuda::SelftestCase& test = test::fp32Cases()[std::size_t(index)];
        const run::ModelWeights weights(test.plan.model, cuda::kSelftestWeightSeed);
        long long before_first_step = -1;
        int steps = 0;
        const cuda::GpuRunPart part =
            cuda::run_gpu_part(test.plan, weights, cuda::selftest_run_options(test), nullptr, [&](int step) {
                if (step == 0)
                    before_first_step = cuda::host::allocations();
                ++steps;
                return true;
            });
        QVERIFY(before_first_step > 0);
        QCOMPARE(int(part.steps.size()), test.plan.workload.generate + 1);
        QVERIFY(steps >= 2);
        QCOMPARE(cuda::host::allocations(), before_first_step);
    }
#endif

    // The selection keeps what the tier promises (test/engine_case_selection.h): with the
    // host loops every layout kind in every element type; with the kernels (and with
    // sanitizers) every tensor layout, and every feature a model or a mesh adds within the
    // 1D and the grid layouts, in each element type the build runs.
    void selectionCoversEveryLayout()
    {
        if (qEnvironmentVariableIsSet("SHARD_TEST_SHARD"))
            QSKIP("a shard holds part of the selection by design; the whole selection is checked unsharded");
        const bool every_kind = kBuild == test::KernelBuild::HostLoops && !test::sanitized();
        std::set<std::string> wanted, kept, types, modes;
        for (const auto* list : {&test::fp32Cases(), &test::eightGpuCases(), &test::halfCases()})
            for (const auto& c : *list) {
                if (kBuild == test::KernelBuild::DeviceKernels && list == &test::eightGpuCases())
                    break; // the emulated cases' kernels again: the full tier's
                const std::string type = " " + to_string(c.dtype);
                const bool kernels_sanitized = kBuild == test::KernelBuild::DeviceKernels && test::sanitized();
                const bool type_runs =
                    !test::sanitized()
                    || (kernels_sanitized ? c.dtype == cuda::GpuDType::F32 : c.dtype != cuda::GpuDType::F16);
                std::vector<std::string> names;
                if (every_kind) {
                    names.push_back(test::layoutKind(c) + type);
                } else {
                    const std::string family = tensor_rank(c.plan.strategy.tensor_mode) > 1 ? "grid " : "1d ";
                    names.push_back(to_string(c.plan.strategy.tensor_mode) + (c.plan.model.is_moe() ? " moe" : "")
                                    + type);
                    for (const std::string& f : featuresOf(c)) {
                        if (!kernels_sanitized)
                            names.push_back(family + f + type);
                        else if (f == "gqa" || f == "qk-norm" || f == "layernorm")
                            names.push_back(f + type);
                    }
                }
                if (type_runs)
                    wanted.insert(names.begin(), names.end());
                if (test::selected(c, kBuild)) {
                    QVERIFY2(type_runs, c.name.c_str());
                    kept.insert(names.begin(), names.end());
                    types.insert(type);
                    modes.insert(to_string(c.plan.strategy.tensor_mode));
                }
            }
        for (const std::string& name : wanted)
            QVERIFY2(kept.count(name), ("no selected case is " + name).c_str());
        if (every_kind) // the meshes the engine is known to get wrong first are in the matrix
            for (const char* kind : {"2d-summa overlap fp32", "2d-summa pp fp32", "3d-cube layernorm fp32",
                                     "megatron dp ep4 moe fp32", "none pp dp ep2 moe fp32", "megatron attn-dp moe fp32",
                                     "megatron-sp ep4 moe fp32", "megatron gqa bf16", "2d-summa fp16"})
                QVERIFY2(kept.count(kind), kind);
        QCOMPARE(int(modes.size()), 9); // none, column, row, Megatron, +SP, SUMMA, 2D-WS, 2.5D, 3D
        QCOMPARE(int(types.size()), test::sanitized() ? (kBuild == test::KernelBuild::DeviceKernels ? 1 : 2) : 3);
        if (test::tier() == test::Tier::Full)
            for (const auto* list : {&test::fp32Cases(), &test::eightGpuCases(), &test::halfCases()})
                for (const auto& c : *list)
                    QVERIFY2(test::selected(c, kBuild), c.name.c_str());
    }
};

QTEST_GUILESS_MAIN(TestEngineOnHost)
#include "tst_engine_on_host.moc"
