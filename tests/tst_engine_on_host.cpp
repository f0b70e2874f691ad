// The CUDA engine's host code (GpuModel, GpuMesh, the emulated collectives, the shared
// expert groups) on a host model of CUDA (tests/host_cuda): the selftest's layouts in
// fp32, bf16 and fp16 run with every rank emulated and on eight "GPUs", each checked like
// `shard-engine selftest` checks it (the CPU reference's hidden states and, in fp32, greedy
// tokens; the planner's collectives byte for byte). Built twice: tst_engine_on_host with
// host loops for the kernels (quick: the engine's shards, buffers, collectives and their
// order over the whole matrix), tst_engine_kernels_on_host with the engine's own CUDA
// kernels run on CPU fibers (SHARD_ENGINE_DEVICE_KERNELS; slower: the first case of each
// kind of layout).
#include "cuda/collective_check.h"
#include "cuda/gpu_run_parts.h"
#include "cuda/gpu_selftest.h"
#include "cuda/moe_kernel_check.h"
#include "host_streams.h"

#include "core/strategy.h"
#include "runtime/model_weights.h"

#include <QtTest>

#include <cstdlib>
#include <map>
#include <set>

using namespace shard;

namespace {

const std::vector<cuda::SelftestCase>& allCases()
{
    static const auto cases = cuda::selftest_cases({cuda::GpuDType::F32}, 1);
    return cases;
}

// The same matrix on eight "GPUs": a host thread per rank (or one for all), joined through
// the host model of NCCL; the cases of more ranks stay emulated and are left out here.
const std::vector<cuda::SelftestCase>& eightGpuCases()
{
    static const auto cases = [] {
        std::vector<cuda::SelftestCase> real;
        for (const auto& c : cuda::selftest_cases({cuda::GpuDType::F32, cuda::GpuDType::BF16}, 8))
            if (!c.emulated)
                real.push_back(c);
        return real;
    }();
    return cases;
}

// What kind of layout a case is, for the selections of fewer cases.
[[maybe_unused]] std::string kind_of(const cuda::SelftestCase& c)
{
    const Strategy& s = c.plan.strategy;
    return to_string(s.tensor_mode) + (s.pp > 1 ? " pp" : "") + (s.dp > 1 ? " dp" : "") + (s.ep > 1 ? " ep" + std::to_string(s.ep) : "")
           + (s.attention == AttentionMode::Data ? " attn-dp" : "") + (c.overlap ? " overlap" : "")
           + (c.plan.model.is_moe() ? " moe" : "") + (c.plan.model.norm == NormKind::LayerNorm ? " layernorm" : "");
}

// The selftest's bf16 and fp16 cases (the dense models; MoE routing stays fp32), emulated.
const std::vector<cuda::SelftestCase>& halfCases()
{
    static const auto cases = cuda::selftest_cases({cuda::GpuDType::BF16, cuda::GpuDType::F16}, 1);
    return cases;
}

#if defined(SHARD_ENGINE_ON_HOST_FEW)
bool few_model(const cuda::SelftestCase& c)
{
    const std::string& id = c.plan.model.id;
    return id == "tiny-dense" || id == "tiny-moe" || id == "tiny-gpt2";
}
#endif

// The kernel paths a dense model takes beyond the dense reference's: grouped-query
// attention (several query heads per cached head) and per-head q / k norms. (The MoE model
// is GQA too; its kinds are its layouts.)
std::string model_features(const cuda::SelftestCase& c)
{
    const ModelSpec& m = c.plan.model;
    if (m.is_moe())
        return {};
    return std::string(m.kv_heads < m.heads ? " gqa" : "") + (m.qk_norm ? " qk-norm" : "");
}

std::string kind_key(const cuda::SelftestCase& c)
{
    const std::string features = model_features(c);
    const std::string type = " " + to_string(c.dtype);
#if defined(SHARD_ENGINE_DEVICE_KERNELS) && defined(SHARD_ENGINE_ON_HOST_FEW)
    if (!features.empty())
        return features + type;
    return to_string(c.plan.strategy.tensor_mode) + (c.plan.model.is_moe() ? " moe" : "") + type;
#elif defined(SHARD_ENGINE_DEVICE_KERNELS)
    if (!features.empty()) // those models in each tensor layout, not in every mesh
        return to_string(c.plan.strategy.tensor_mode) + features + type;
    return kind_of(c) + type;
#else
    (void)features;
    return kind_of(c) + type;
#endif
}

// Which cases the "first of each kind" selections draw from, and what a kind is there.
// fp32 and bf16: every case of the dense reference model and the MoE model; the
// GPT-2-style model (LayerNorm, biases, learned positions) and the Qwen3-style one
// (qk-norm, GQA) in the layouts new to the engine; fp16 (the same element size as bf16):
// the first case of each kind. Sanitizer builds: the first case of each kind in fp32 and
// bf16 of three models. With the kernels themselves (each block's threads on fibers): the
// first case of each kind in each type, and of each tensor layout of the GQA and qk-norm
// models; with sanitizers, the first fp32 case of each tensor layout (dense and MoE) and
// of each of those two models. SHARD_HOST_ENGINE_ALL=1 runs every case.
bool eligible(const cuda::SelftestCase& c)
{
#if defined(SHARD_ENGINE_DEVICE_KERNELS) && defined(SHARD_ENGINE_ON_HOST_FEW)
    return c.dtype == cuda::GpuDType::F32 && (few_model(c) || !model_features(c).empty());
#elif defined(SHARD_ENGINE_DEVICE_KERNELS)
    (void)c;
    return true;
#elif defined(SHARD_ENGINE_ON_HOST_FEW)
    return c.dtype != cuda::GpuDType::F16 && few_model(c);
#else
    return c.dtype == cuda::GpuDType::F16;
#endif
}

// Whether the case is the first eligible one of its kind, in the order the test functions
// list them (fp32 emulated, then on eight "GPUs", then bf16 / fp16): the same answer
// whichever test function runs, alone or with the others.
bool first_of_kind(const cuda::SelftestCase& c)
{
    static const std::map<std::string, std::string> first = [] {
        std::map<std::string, std::string> names;
        for (const auto* list : {&allCases(), &eightGpuCases(), &halfCases()})
            for (const auto& x : *list)
                if (eligible(x))
                    names.emplace(kind_key(x), x.name);
        return names;
    }();
    const auto it = first.find(kind_key(c));
    return eligible(c) && it != first.end() && it->second == c.name;
}

bool selected(const cuda::SelftestCase& c)
{
    if (std::getenv("SHARD_HOST_ENGINE_ALL"))
        return true;
#if defined(SHARD_ENGINE_DEVICE_KERNELS) || defined(SHARD_ENGINE_ON_HOST_FEW)
    return first_of_kind(c);
#else
    if (c.dtype == cuda::GpuDType::F16)
        return first_of_kind(c);
    const std::string& id = c.plan.model.id;
    if (id == "tiny-dense" || id == "tiny-moe")
        return true;
    return tensor_rank(c.plan.strategy.tensor_mode) > 1 && c.plan.strategy.pp == 1;
#endif
}

} // namespace

class TestEngineOnHost : public QObject {
    Q_OBJECT

    // Runs a case as `shard-engine selftest` does and says what differs.
    // Runs a case under one schedule of the host model's streams.
    static void check(const cuda::SelftestCase& test, cuda::host::Schedule schedule)
    {
        cuda::host::set_schedule(schedule);
        const cuda::SelftestResult r = cuda::run_selftest_case(test);
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
    void layouts_data()
    {
        QTest::addColumn<int>("index");
        for (std::size_t i = 0; i < allCases().size(); ++i)
            if (selected(allCases()[i]))
                QTest::newRow(allCases()[i].name.c_str()) << int(i);
    }

    void layouts()
    {
        QFETCH(int, index);
        check(allCases()[std::size_t(index)]);
    }

    void layoutsOnEightGpus_data()
    {
        QTest::addColumn<int>("index");
        for (std::size_t i = 0; i < eightGpuCases().size(); ++i)
            if (selected(eightGpuCases()[i]))
                QTest::newRow(eightGpuCases()[i].name.c_str()) << int(i);
    }

    void layoutsOnEightGpus()
    {
        QFETCH(int, index);
        QVERIFY(!eightGpuCases()[std::size_t(index)].emulated);
        check(eightGpuCases()[std::size_t(index)]);
    }

    void halfPrecisionLayouts_data()
    {
        QTest::addColumn<int>("index");
        for (std::size_t i = 0; i < halfCases().size(); ++i)
            if (selected(halfCases()[i]))
                QTest::newRow(halfCases()[i].name.c_str()) << int(i);
    }

    void halfPrecisionLayouts()
    {
        QFETCH(int, index);
        check(halfCases()[std::size_t(index)]);
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
        for (std::size_t i = 0; i < allCases().size(); ++i)
            if (selected(allCases()[i]) && kinds.insert(kind_of(allCases()[i])).second)
                QTest::newRow(allCases()[i].name.c_str()) << int(i);
    }

    void noAllocationInTheStepLoop()
    {
        QFETCH(int, index);
        const cuda::SelftestCase& test = allCases()[std::size_t(index)];
        const cpu::ModelWeights weights(test.plan.model, cuda::kSelftestWeightSeed);
        long long before_first_step = -1;
        int steps = 0;
        const cuda::GpuRunPart part = cuda::run_gpu_part(test.plan, weights, cuda::selftest_run_options(test), nullptr, [&](int step) {
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

    // The selection keeps every kind of layout the engine runs.
    void selectionCoversEveryLayout()
    {
#if defined(SHARD_ENGINE_DEVICE_KERNELS)
        // Every kind (with sanitizers: every tensor layout, dense and MoE) of the eligible cases.
        std::set<std::string> every_kind, selected_kinds;
        std::set<TensorMode> modes;
        for (const auto& c : allCases()) {
            if (!eligible(c))
                continue;
            every_kind.insert(kind_key(c));
            if (selected(c)) {
                selected_kinds.insert(kind_key(c));
                modes.insert(c.plan.strategy.tensor_mode);
            }
        }
        QVERIFY(selected_kinds == every_kind);
        QCOMPARE(int(modes.size()), 9);
#else
        std::set<TensorMode> modes;
        int meshes = 0, overlap = 0, experts_over_replicas = 0, attention_dp = 0;
        for (const auto& c : allCases()) {
            if (!selected(c))
                continue;
            const Strategy& s = c.plan.strategy;
            modes.insert(s.tensor_mode);
            meshes += s.pp > 1 || s.dp > 1 ? 1 : 0;
            overlap += c.overlap ? 1 : 0;
            experts_over_replicas += s.ep > 1 && s.dp > 1 ? 1 : 0;
            attention_dp += s.attention == AttentionMode::Data ? 1 : 0;
        }
        QCOMPARE(int(modes.size()), 9); // none, column, row, Megatron, +SP, SUMMA, 2D-WS, 2.5D, 3D
        std::set<std::string> kinds;
        for (const auto& c : allCases())
            if (selected(c))
                kinds.insert(kind_of(c));
        for (const char* kind : {"2d-summa overlap", "2d-summa pp", "3d-cube layernorm", "megatron dp ep4 moe",
                                 "none pp dp ep2 moe", "megatron attn-dp moe", "megatron-sp ep4 moe"})
            QVERIFY2(kinds.count(kind), kind);
        QVERIFY(meshes >= 8);
        QVERIFY(overlap >= 10);
        QCOMPARE(experts_over_replicas, 4);
        QVERIFY(attention_dp >= 2);
#endif
    }
};

QTEST_GUILESS_MAIN(TestEngineOnHost)
#include "tst_engine_on_host.moc"
