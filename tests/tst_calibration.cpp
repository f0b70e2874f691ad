// Calibration from stored runs: which runs count, the correction per GPU kind and op kind, the
// error before and after (each run held out), and the planner pricing with it.
#include "store/calibration.h"
#include "store/kind_comparison.h"

#include "core/presets.h"

#include "core/plan.h"
#include "cost/estimate.h"
#include "cost/perf_db.h"

#include "cli_runner.h"

#include <QtTest>

#include <QJsonArray>
#include <QJsonObject>

#include <cmath>
#include <filesystem>

using namespace shard;

namespace {

const char* kPlanFile = SHARD_SOURCE_DIR "/plans/llama-3.1-70b-dgx-h100-tp8.shardplan.json";

// One decode step of rank 0 on `backend`: attention and qkv rows with the prediction they
// recorded (100 us each) and measured `attention_us` and `qkv_us`; one AllReduce of `allreduce_us`.
void storeRun(RunStore& store, const std::string& backend, double attention_us, double qkv_us, double allreduce_us,
              const std::string& gpus = "[]", bool modeled = false)
{
    const std::string plan = dump_json(plan_to_json(load_plan(kPlanFile)));
    store.ingest(
        Json::parse(R"({"v":1,"event":"start","plan":"p","backend":")" + backend
                    + R"(","model":"llama-3.1-70b","topology":"dgx-h100","strategy":"TP8","environment":{"gpus":)"
                    + gpus + "}}"),
        plan);
    auto op = [&](const char* kind, double us) {
        store.ingest(Json::parse(std::string(R"({"v":1,"event":"op","rank":0,"step":1,"layer":0,"op":"x","kind":")")
                                 + kind + R"(","us":)" + std::to_string(us) + R"(,"predicted_us":100})"));
    };
    op("attention", attention_us);
    op("qkv", qkv_us);
    store.ingest(Json::parse(
        std::string(R"({"v":1,"event":"collective","rank":0,"step":1,"op":"AllReduce","group":"tp","group_size":8,)")
        + R"("bytes":65536,"us":)" + std::to_string(allreduce_us) + (modeled ? R"(,"time":"modeled")" : "") + "}"));
    store.ingest(Json::parse(R"({"v":1,"event":"result","measured":{"tpot_ms":1}})"));
}

} // namespace

class TestCalibration : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        // What the cost model predicts for one rank's AllReduces in a decode step of the plan.
        RunStore probe(m_dir.filePath(QStringLiteral("probe.db")).toStdString());
        storeRun(probe, "cuda", 100, 100, 100);
        const auto runs = probe.list();
        for (const KindComparison& k : compare_decode_by_kind(probe, runs.front().id))
            if (k.kind == "AllReduce")
                m_allReducePredictedUs = *k.predicted_ms * 1000.0;
        QVERIFY(m_allReducePredictedUs > 0);
    }

    void fitsEachKindFromTheRunsThatCount()
    {
        const std::string path = m_dir.filePath(QStringLiteral("fit.db")).toStdString();
        RunStore store(path);
        const double ar = m_allReducePredictedUs;
        storeRun(store, "cuda", 110, 90, 1.5 * ar, R"(["NVIDIA H100 80GB HBM3"])");
        storeRun(store, "cuda", 120, 90, 1.5 * ar);
        storeRun(store, "cuda", 130, 90, 1.5 * ar);
        storeRun(store, "cpu", 9000, 9000, 9000); // #4: the CPU's times are not a GPU's
        storeRun(store, "cuda", 500, 500, 500, R"(["NVIDIA H200"])"); // #5: another GPU kind
        storeRun(store, "cuda-emulated", 120, 90, 99 * ar, "[]", true); // #6: its collective is modeled
        const Calibration fit = fit_calibration(store);
        QCOMPARE(fit.skipped.size(), std::size_t(2));
        QCOMPARE(fit.skipped[0], std::string("#4: cpu backend, its times are not a GPU's"));
        QCOMPARE(fit.skipped[1], std::string("#5: ran on NVIDIA H200, its plan predicts for H100 SXM 80GB"));
        QCOMPARE(fit.gpus.size(), std::size_t(1));
        const GpuFit& h100 = fit.gpus.front();
        QCOMPARE(h100.gpu, std::string("H100 SXM 80GB"));
        QCOMPARE(h100.runs, (std::vector<std::int64_t>{1, 2, 3, 6}));
        QCOMPARE(fit.find("NVIDIA H100 80GB HBM3"), &h100);
        std::map<std::string, KindFit> kinds;
        for (const KindFit& k : h100.kinds)
            kinds[k.kind] = k;
        QCOMPARE(kinds.size(), std::size_t(3));
        // Attention ran 1.1, 1.2, 1.3 and 1.2 times its prediction: their geometric mean.
        const KindFit& attention = kinds["attention"];
        QCOMPARE(attention.runs, 4);
        QVERIFY(std::abs(attention.scale - std::pow(1.1 * 1.2 * 1.3 * 1.2, 0.25)) < 1e-12);
        QCOMPARE(attention.ratio_low, 1.1);
        QCOMPARE(attention.ratio_high, 1.3);
        // Before: |1 - r| / r per run, median of 0.0909, 0.1667, 0.1667, 0.2308.
        QVERIFY(std::abs(attention.median_error_before - 1.0 / 6.0) < 1e-12);
        // After: each run with the correction of the other three.
        std::vector<double> after;
        const double ratios[] = {1.1, 1.2, 1.3, 1.2};
        for (int i = 0; i < 4; ++i) {
            double product = 1;
            for (int j = 0; j < 4; ++j)
                product *= j == i ? 1.0 : ratios[j];
            after.push_back(std::abs(std::cbrt(product) - ratios[i]) / ratios[i]);
        }
        std::sort(after.begin(), after.end());
        QVERIFY(std::abs(attention.median_error_after - 0.5 * (after[1] + after[2])) < 1e-12);
        QVERIFY(attention.held_out);
        QVERIFY(attention.median_error_after < attention.median_error_before);
        // qkv always ran at 0.9: the correction removes the error entirely.
        QVERIFY(std::abs(kinds["qkv"].scale - 0.9) < 1e-12);
        QVERIFY(std::abs(kinds["qkv"].median_error_before - 0.1 / 0.9) < 1e-12);
        QVERIFY(kinds["qkv"].median_error_after < 1e-12);
        // The AllReduce of the three CUDA runs, not the emulated run's modeled one.
        const KindFit& allReduce = kinds["AllReduce"];
        QVERIFY(allReduce.collective);
        QCOMPARE(allReduce.runs, 3);
        QVERIFY(std::abs(allReduce.scale - 1.5) < 1e-6);
    }

    void thePlannerPricesWithTheCorrection()
    {
        const std::string path = m_dir.filePath(QStringLiteral("planner.db")).toStdString();
        {
            RunStore store(path);
            storeRun(store, "cuda", 150, 100, m_allReducePredictedUs);
        }
        const Plan plan = load_plan(kPlanFile);
        const Efficiency calibrated = calibrated_efficiency(plan.topology.gpu, path);
        QCOMPARE(calibrated.calibration.size(), std::size_t(3));
        QVERIFY(std::abs(calibrated.calibration.at("attention") - 1.5) < 1e-12);
        const Estimate plain = estimate(plan.model, plan.strategy, plan.topology, plan.workload);
        const Estimate fixed = estimate(plan.model, plan.strategy, plan.topology, plan.workload, calibrated);
        const BlockCost* a = plain.decode.block("dense layer");
        const BlockCost* b = fixed.decode.block("dense layer");
        for (std::size_t i = 0; i < a->ops.size(); ++i) {
            const double expected = a->ops[i].kind == OpKind::Attention ? 1.5 : 1.0;
            QVERIFY(std::abs(b->ops[i].time_us - expected * a->ops[i].time_us) < 1e-9 * a->ops[i].time_us);
            QCOMPARE(b->ops[i].calibration, expected);
        }
        QVERIFY(fixed.tpot_ms > plain.tpot_ms);
        QVERIFY(prediction_source(plan.topology.gpu, calibrated).find("AllReduce, attention, qkv corrected by")
                != std::string::npos);
        // No database, or one that is not a run database: no correction, no failure.
        QVERIFY(calibrated_efficiency(plan.topology.gpu, m_dir.filePath(QStringLiteral("none.db")).toStdString())
                    .calibration.empty());
        QVERIFY(calibrated_efficiency(plan.topology.gpu, kPlanFile).calibration.empty());
        QVERIFY(calibrated_efficiency(PresetLibrary::instance().topology("8x-h200").gpu, path).calibration.empty());
        // Another run changes the fit the next prediction uses (the fit is cached per database).
        {
            RunStore store(path);
            storeRun(store, "cuda", 100, 100, m_allReducePredictedUs);
        }
        QVERIFY(std::abs(calibrated_efficiency(plan.topology.gpu, path).calibration.at("attention") - std::sqrt(1.5))
                < 1e-12);
    }

    void theCliShowsTheFitAndPricesWithIt()
    {
        // The CLI's run database lives under its scratch $XDG_DATA_HOME.
        const QString data = test::scratchEnvironment().value(QStringLiteral("XDG_DATA_HOME"));
        const QString db = data + QStringLiteral("/shardstudio/runs.db");
        std::filesystem::create_directories((data + QStringLiteral("/shardstudio")).toStdString());
        auto price = [] {
            const auto r =
                test::runCli({QStringLiteral("--json"), QStringLiteral("price"), QString::fromUtf8(kPlanFile)});
            return test::jsonOf(r).object();
        };
        const QJsonObject before = price();
        {
            RunStore store(db.toStdString());
            storeRun(store, "cuda", 110, 100, m_allReducePredictedUs);
            storeRun(store, "cuda", 130, 100, m_allReducePredictedUs);
        }
        test::CliResult r = test::runCli({QStringLiteral("history"), QStringLiteral("calibration")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("H100 SXM 80GB: 2 runs"), r.out.constData());
        QVERIFY2(r.out.contains("attention"), r.out.constData());
        r = test::runCli({QStringLiteral("--json"), QStringLiteral("history"), QStringLiteral("calibration")});
        const QJsonArray kinds = test::jsonOf(r)
                                     .object()[QStringLiteral("gpus")]
                                     .toArray()
                                     .at(0)
                                     .toObject()[QStringLiteral("kinds")]
                                     .toArray();
        QCOMPARE(kinds.size(), 3);
        // The CLI prices with exactly the corrections its database holds.
        const Plan plan = load_plan(kPlanFile);
        const Estimate plain = estimate(plan.model, plan.strategy, plan.topology, plan.workload);
        const Estimate fixed = estimate(plan.model, plan.strategy, plan.topology, plan.workload,
                                        calibrated_efficiency(plan.topology.gpu, db.toStdString()));
        QCOMPARE(before[QStringLiteral("prediction")].toObject()[QStringLiteral("tpot_ms")].toDouble(), plain.tpot_ms);
        const QJsonObject after = price();
        QVERIFY(after[QStringLiteral("prediction_source")].toString().contains(QStringLiteral("corrected by")));
        QCOMPARE(after[QStringLiteral("prediction")].toObject()[QStringLiteral("tpot_ms")].toDouble(), fixed.tpot_ms);
        QVERIFY(fixed.tpot_ms != plain.tpot_ms);
    }

private:
    QTemporaryDir m_dir;
    double m_allReducePredictedUs = 0;
};

QTEST_GUILESS_MAIN(TestCalibration)
#include "tst_calibration.moc"
