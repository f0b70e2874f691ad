// Enumeration, ranking, the Pareto front, plan files with predictions, serving exports.
#include "planner/planner.h"
#include "planner/serving_export.h"

#include "core/presets.h"

#include <QtTest>

using namespace shard;

namespace {

Workload workload(int batch, Objective objective = Objective::TPOT)
{
    Workload w;
    w.batch = batch;
    w.prompt = 2048;
    w.generate = 256;
    w.objective = objective;
    return w;
}

PlanResult planFor(const char* model, const char* topology, const Workload& w)
{
    PlannerOptions options;
    options.objective = w.objective;
    return plan_candidates(PresetLibrary::instance().model(model), PresetLibrary::instance().topology(topology), w,
                           options);
}

bool dominates(const Estimate& a, const Estimate& b, Objective objective)
{
    const double la = pareto_latency_ms(a, objective);
    const double lb = pareto_latency_ms(b, objective);
    return la <= lb && a.memory.total() <= b.memory.total() && (la < lb || a.memory.total() < b.memory.total());
}

} // namespace

class TestPlanner : public QObject {
    Q_OBJECT

private slots:
    void enumerationCounts_data()
    {
        QTest::addColumn<QString>("modelId");
        QTest::addColumn<QString>("topologyId");
        QTest::addColumn<int>("count");
        // 8 GPUs: pp x dp x tensor = 8; tensor 8 has 5 1D layouts + 2D-WS 2x4, 4x2 + 2.5D 2x2x2
        // + 3D 2^3; tensor 4 has 5 + SUMMA 2x2 + 2D-WS 2x2; tensor 2 has 5; tensor 1 has 1.
        QTest::addRow("dense on 8") << QStringLiteral("llama-3.1-70b") << QStringLiteral("dgx-h100") << 42;
        QTest::addRow("single gpu") << QStringLiteral("llama-3.1-8b") << QStringLiteral("1x-h100") << 1;
        // MoE: every EP that spans whole replicas, per layout.
        QTest::addRow("moe on 8") << QStringLiteral("mixtral-8x7b") << QStringLiteral("dgx-h100") << 112;
    }

    void enumerationCounts()
    {
        QFETCH(QString, modelId);
        QFETCH(QString, topologyId);
        QFETCH(int, count);
        const auto strategies = enumerate_strategies(PresetLibrary::instance().model(modelId.toStdString()),
                                                     PresetLibrary::instance().topology(topologyId.toStdString()));
        QCOMPARE(int(strategies.size()), count);
        for (const auto& s : strategies)
            QCOMPARE(s.devices(), PresetLibrary::instance().topology(topologyId.toStdString()).total_gpus());
    }

    void rankingFollowsTheObjective_data()
    {
        QTest::addColumn<int>("objective");
        QTest::addRow("ttft") << int(Objective::TTFT);
        QTest::addRow("tpot") << int(Objective::TPOT);
        QTest::addRow("throughput") << int(Objective::Throughput);
        QTest::addRow("memory") << int(Objective::Memory);
    }

    void rankingFollowsTheObjective()
    {
        QFETCH(int, objective);
        const auto obj = Objective(objective);
        const PlanResult result = planFor("llama-3.1-70b", "dgx-h100", workload(8, obj));
        QVERIFY(result.feasible > 10);
        double previous = -1e300;
        for (int i = 0; i < result.feasible; ++i) {
            const Candidate& c = result.candidates[i];
            QVERIFY(c.estimate.feasible);
            QCOMPARE(c.rank, i + 1);
            const double value = objective_value(c.estimate, obj);
            QVERIFY(value >= previous);
            previous = value;
        }
        for (std::size_t i = result.feasible; i < result.candidates.size(); ++i) {
            QVERIFY(!result.candidates[i].estimate.feasible);
            QVERIFY(!result.candidates[i].estimate.reason.empty());
        }
    }

    void megatronWinsDecodeOnOneNode()
    {
        // Decode on NVSwitch: the Megatron pairing moves the least per token and ranks first.
        const PlanResult result = planFor("llama-3.1-70b", "dgx-h100", workload(8));
        const Strategy& best = result.candidates.front().strategy;
        QCOMPARE(best.tensor_mode, TensorMode::Megatron1D);
        QCOMPARE(best.tensor_size(), 8);
        QVERIFY(result.candidates.front().pareto);
    }

    void paretoFrontIsExactlyTheUndominated()
    {
        const PlanResult result = planFor("mixtral-8x7b", "dgx-h100", workload(32));
        int front = 0;
        for (const auto& c : result.candidates) {
            if (!c.estimate.feasible) {
                QVERIFY(!c.pareto);
                continue;
            }
            bool dominated = false;
            for (const auto& other : result.candidates) {
                if (other.estimate.feasible && dominates(other.estimate, c.estimate, Objective::TPOT))
                    dominated = true;
            }
            QCOMPARE(c.pareto, !dominated);
            front += c.pareto ? 1 : 0;
        }
        QVERIFY(front >= 2);
    }

    void decodeFavoursOneDOverSummaAndPrefillNarrowsTheGap()
    {
        // DESIGN.md: SUMMA moves weight blocks every forward, so decode (small M) loses to 1D.
        const ModelSpec m = PresetLibrary::instance().model("llama-2-7b");
        const Topology t = PresetLibrary::instance().topology("dgx-h100");
        Workload w = workload(4);
        w.prompt = 4096;
        Strategy summa;
        summa.tensor_mode = TensorMode::Summa2D;
        summa.tensor_shape = {2, 2};
        summa.dp = 2;
        Strategy one_d;
        one_d.tensor_mode = TensorMode::Megatron1D;
        one_d.tensor_shape = {4};
        one_d.dp = 2;
        const Estimate s = estimate(m, summa, t, w);
        const Estimate o = estimate(m, one_d, t, w);
        QVERIFY2(s.feasible && o.feasible, (s.reason + o.reason).c_str());
        QVERIFY(s.decode.traffic_per_device > 10 * o.decode.traffic_per_device);
        const double decode_ratio = double(s.decode.traffic_per_device) / o.decode.traffic_per_device;
        const double prefill_ratio = double(s.prefill.traffic_per_device) / o.prefill.traffic_per_device;
        QVERIFY(prefill_ratio < decode_ratio / 10);
    }

    void savedPlanCarriesThePrediction()
    {
        const ModelSpec m = PresetLibrary::instance().model("llama-3.1-70b");
        const Topology t = PresetLibrary::instance().topology("dgx-h100");
        const Workload w = workload(8);
        const PlanResult result = plan_candidates(m, t, w);
        const Plan plan = make_plan(m, t, w, result.candidates.front());
        QVERIFY(plan.prediction.has_value());
        const OrderedJson& p = *plan.prediction;
        for (const char* key : {"mode", "mesh", "feasible", "reason", "memory_per_device_bytes", "memory_breakdown",
                                "comm_bytes_per_device", "ttft_ms", "tpot_ms", "tokens_per_s"})
            QVERIFY2(p.contains(key), key);
        QCOMPARE(p["tpot_ms"].get<double>(), result.candidates.front().estimate.tpot_ms);
        QCOMPARE(p["predicted"].get<bool>(), true);
        const QString path = QDir::temp().filePath(QStringLiteral("tst_planner.shardplan.json"));
        save_plan(plan, path.toStdString());
        QVERIFY(load_plan(path.toStdString()) == plan);
        QFile::remove(path);
    }

    void servingExports_data()
    {
        QTest::addColumn<QString>("engine");
        QTest::addColumn<int>("variant");
        QTest::addColumn<bool>("exact");
        QTest::addColumn<QString>("expected");
        QTest::addRow("vllm tp8") << QStringLiteral("vllm") << 0 << true << QStringLiteral("--tensor-parallel-size 8");
        QTest::addRow("sglang tp8") << QStringLiteral("sglang") << 0 << true << QStringLiteral("--tp-size 8");
        QTest::addRow("trtllm tp8") << QStringLiteral("trtllm") << 0 << true << QStringLiteral("--tp_size 8");
        QTest::addRow("vllm pp2 tp4") << QStringLiteral("vllm") << 1 << true
                                      << QStringLiteral("--pipeline-parallel-size 2");
        QTest::addRow("vllm summa") << QStringLiteral("vllm") << 2 << false
                                    << QStringLiteral("has no equivalent in vllm");
        QTest::addRow("sglang 3d") << QStringLiteral("sglang") << 3 << false
                                   << QStringLiteral("has no equivalent in sglang");
        QTest::addRow("sglang attn-dp") << QStringLiteral("sglang") << 4 << true
                                        << QStringLiteral("--enable-dp-attention");
    }

    void servingExports()
    {
        QFETCH(QString, engine);
        QFETCH(int, variant);
        QFETCH(bool, exact);
        QFETCH(QString, expected);
        Plan plan;
        plan.model = PresetLibrary::instance().model("llama-3.1-70b");
        plan.topology = PresetLibrary::instance().topology("dgx-h100");
        plan.workload.batch = 8; // splits over every replica count below: each plan fits
        plan.strategy.tensor_mode = TensorMode::Megatron1D;
        plan.strategy.tensor_shape = {8};
        if (variant == 1) {
            plan.strategy.pp = 2;
            plan.strategy.tensor_shape = {4};
        } else if (variant == 2) {
            plan.strategy.tensor_mode = TensorMode::Summa2D;
            plan.strategy.tensor_shape = {2, 2};
            plan.strategy.dp = 2;
        } else if (variant == 3) {
            plan.strategy.tensor_mode = TensorMode::Cube3D;
            plan.strategy.tensor_shape = {2, 2, 2};
        } else if (variant == 4) {
            plan.strategy.attention = AttentionMode::Data;
        }
        const ServingExport out = export_for_serving(plan, engine.toStdString());
        QCOMPARE(out.exact, exact);
        QString all = QString::fromStdString(out.command);
        for (const auto& c : out.caveats)
            all += QLatin1Char('\n') + QString::fromStdString(c);
        QVERIFY2(all.contains(expected), qPrintable(all));
    }

    void unknownServingEngine()
    {
        Plan plan;
        QVERIFY_THROWS_EXCEPTION(Error, export_for_serving(plan, "triton"));
    }
};

QTEST_GUILESS_MAIN(TestPlanner)
#include "tst_planner.moc"
