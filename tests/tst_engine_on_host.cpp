// The CUDA engine's host code (GpuModel, GpuMesh, the emulated collectives, the shared
// expert groups) on a host model of CUDA (tests/host_cuda): the selftest's fp32 layouts
// run with every rank emulated, each checked like `shard-engine selftest` checks it (the
// CPU reference's hidden states and greedy tokens, the planner's collectives byte for
// byte). The kernels are host loops here, so this checks the engine's shards, buffers,
// collectives and their order, not the CUDA kernels (the GPU selftest does).
#include "cuda/gpu_selftest.h"

#include "core/strategy.h"

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
        for (const auto& c : cuda::selftest_cases({cuda::GpuDType::F32}, 8))
            if (!c.emulated)
                real.push_back(c);
        return real;
    }();
    return cases;
}

// What kind of layout a case is, for the sanitizer builds' selection.
std::string kind_of(const cuda::SelftestCase& c)
{
    const Strategy& s = c.plan.strategy;
    return to_string(s.tensor_mode) + (s.pp > 1 ? " pp" : "") + (s.dp > 1 ? " dp" : "") + (s.ep > 1 ? " ep" + std::to_string(s.ep) : "")
           + (s.attention == AttentionMode::Data ? " attn-dp" : "") + (c.overlap ? " overlap" : "")
           + (c.plan.model.is_moe() ? " moe" : "") + (c.plan.model.norm == NormKind::LayerNorm ? " layernorm" : "");
}

// Every case of the dense reference model and the MoE model; the GPT-2-style model
// (LayerNorm, biases, learned positions) and the Qwen3-style one (qk-norm, GQA) in the
// layouts new to the engine. Sanitizer builds run the first case of each kind.
// SHARD_HOST_ENGINE_ALL=1 runs every fp32 case.
bool selected(const cuda::SelftestCase& c)
{
    if (std::getenv("SHARD_HOST_ENGINE_ALL"))
        return true;
    const std::string& id = c.plan.model.id;
#ifdef SHARD_ENGINE_ON_HOST_FEW
    static std::map<std::string, std::string> first_of_kind;
    if (id != "tiny-dense" && id != "tiny-moe" && id != "tiny-gpt2")
        return false;
    return first_of_kind.emplace(kind_of(c), c.name).first->second == c.name;
#else
    if (id == "tiny-dense" || id == "tiny-moe")
        return true;
    return tensor_rank(c.plan.strategy.tensor_mode) > 1 && c.plan.strategy.pp == 1;
#endif
}

} // namespace

class TestEngineOnHost : public QObject {
    Q_OBJECT

    // Runs a case as `shard-engine selftest` does and says what differs.
    static void check(cuda::SelftestCase test)
    {
        test.graphs = false; // graph capture is not in the host model
        const cuda::SelftestResult r = cuda::run_selftest_case(test);
        QVERIFY2(r.error.empty(), r.error.c_str());
        QVERIFY2(r.tokens_match, r.detail.c_str());
        QVERIFY2(r.traffic_exact, r.error.c_str());
        QVERIFY2(r.max_relative_error < 1e-5, r.detail.c_str());
        QVERIFY(r.passed);
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

    // The selection keeps every kind of layout the engine runs.
    void selectionCoversEveryLayout()
    {
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
    }
};

QTEST_GUILESS_MAIN(TestEngineOnHost)
#include "tst_engine_on_host.moc"
