// The CPU reference executor: every layout computes the unsharded model's hidden states and
// greedy tokens, and moves exactly the bytes the planner predicted.
#include "cpu/cpu_executor.h"
#include "cpu/inprocess_communicator.h"
#include "run/safetensors.h"
#include "run/test_models.h"
#include "run/traffic_check.h"

#include "core/presets.h"
#include "cost/estimate.h"

#include <QtTest>

#include <cmath>
#include <cstring>
#include <thread>

using namespace shard;
using namespace shard::cpu;
using namespace shard::run;

namespace {

ModelSpec modelOf(const std::string& id)
{
    return test_model(id); // presets, or the small test models of runtime/test_models.h
}

Plan makePlan(const char* model, TensorMode mode, int t, int pp = 1, int dp = 1, int ep = 1,
              AttentionMode attention = AttentionMode::Heads, int batch = 8)
{
    Plan plan;
    plan.name = "test";
    plan.model = modelOf(model);
    plan.topology = PresetLibrary::instance().topology("2x-dgx-h100");
    plan.workload.batch = batch;
    plan.workload.prompt = 32;
    plan.workload.generate = 16;
    plan.workload.dtype = DType::FP32; // the CPU moves fp32: predicted bytes use 4-byte elements
    plan.workload.kv_dtype = DType::FP32;
    plan.strategy.tensor_mode = t > 1 ? mode : TensorMode::None;
    plan.strategy.tensor_shape = t > 1 ? std::vector<int>{t} : std::vector<int>{};
    plan.strategy.pp = pp;
    plan.strategy.dp = dp;
    plan.strategy.ep = ep;
    plan.strategy.attention = attention;
    return plan;
}

const ModelWeights& weightsOf(const std::string& id)
{
    static std::map<std::string, std::unique_ptr<ModelWeights>> cache;
    auto& w = cache[id];
    if (!w)
        w = std::make_unique<ModelWeights>(modelOf(id), 42);
    return *w;
}

const std::vector<StepOutput>& referenceOf(const std::string& id, int batch = 8)
{
    static std::map<std::pair<std::string, int>, std::vector<StepOutput>> cache;
    auto it = cache.find({id, batch});
    if (it == cache.end()) {
        const Plan plan = makePlan(id.c_str(), TensorMode::None, 1, 1, 1, 1, AttentionMode::Heads, batch);
        it = cache.emplace(std::make_pair(id, batch), run_reference(plan, weightsOf(id))).first;
    }
    return it->second;
}

void checkRun(const Plan& plan, const std::string& id)
{
    const Estimate estimate = shard::estimate(plan.model, plan.strategy, plan.topology, plan.workload);
    QVERIFY2(estimate.geometry.feasible(), estimate.reason.c_str());
    const RunResult run = run_cpu(plan, weightsOf(id));
    const auto& reference = referenceOf(id, plan.workload.batch);
    QCOMPARE(run.steps.size(), reference.size()); // prefill + 16 decode steps
    double worst = 0;
    for (std::size_t step = 0; step < reference.size(); ++step) {
        QCOMPARE(run.steps[step].next_tokens, reference[step].next_tokens);
        double diff = 0;
        double norm = 0;
        for (std::size_t i = 0; i < reference[step].hidden.size(); ++i) {
            diff += std::pow(double(run.steps[step].hidden[i]) - reference[step].hidden[i], 2);
            norm += std::pow(double(reference[step].hidden[i]), 2);
        }
        worst = std::max(worst, std::sqrt(diff / norm));
    }
    QVERIFY2(worst < 1e-5, qPrintable(QStringLiteral("relative error %1").arg(worst)));
    const auto differences = compare_traffic(estimate, run, plan.strategy.pp);
    for (std::size_t i = 0; i < std::min<std::size_t>(differences.size(), 5); ++i)
        qWarning("%s", differences[i].c_str());
    QVERIFY(differences.empty());
}

} // namespace

class TestCpuExecutor : public QObject {
    Q_OBJECT

private slots:
    void weightsMatchTheParameterCount()
    {
        for (const char* id : {"tiny-dense", "tiny-moe"})
            QCOMPARE(weightsOf(id).parameter_count(), PresetLibrary::instance().model(id).total_params());
    }

    void everyLayout_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("mode");
        QTest::addColumn<int>("t");
        QTest::addColumn<int>("pp");
        QTest::addColumn<int>("dp");
        QTest::addColumn<int>("ep");
        QTest::addColumn<bool>("attentionDP");
        const QString dense = QStringLiteral("tiny-dense");
        const QString moe = QStringLiteral("tiny-moe");
        const int mega = int(TensorMode::Megatron1D);
        const int sp = int(TensorMode::MegatronSP);
        for (const QString& m : {dense, moe}) {
            const char* n = m == dense ? "dense" : "moe";
            QTest::addRow("%s single", n) << m << mega << 1 << 1 << 1 << 1 << false;
            for (const int t : {2, 4, 8}) {
                QTest::addRow("%s 1d megatron p=%d", n, t) << m << mega << t << 1 << 1 << 1 << false;
                QTest::addRow("%s 1d megatron+sp p=%d", n, t) << m << sp << t << 1 << 1 << 1 << false;
            }
            QTest::addRow("%s attention-dp p=4", n) << m << mega << 4 << 1 << 1 << 1 << true;
            QTest::addRow("%s pipeline 2", n) << m << mega << 1 << 2 << 1 << 1 << false;
            QTest::addRow("%s pipeline 4", n) << m << mega << 1 << 4 << 1 << 1 << false;
            QTest::addRow("%s pp2 x tp2", n) << m << mega << 2 << 2 << 1 << 1 << false;
            if (m == dense)
                QTest::addRow("%s dp2 x tp2", n) << m << mega << 2 << 1 << 2 << 1 << false;
        }
        QTest::addRow("dense 1d column p=4") << dense << int(TensorMode::Column1D) << 4 << 1 << 1 << 1 << false;
        QTest::addRow("dense 1d row p=4") << dense << int(TensorMode::Row1D) << 4 << 1 << 1 << 1 << false;
        QTest::addRow("dense 1d column p=2") << dense << int(TensorMode::Column1D) << 2 << 1 << 1 << 1 << false;
        QTest::addRow("dense 1d row p=8") << dense << int(TensorMode::Row1D) << 8 << 1 << 1 << 1 << false;
        for (const int ep : {2, 4, 8})
            QTest::addRow("moe ep%d x tp%d", ep, ep) << moe << mega << ep << 1 << 1 << ep << false;
        QTest::addRow("moe ep2 over tp1 x dp2") << moe << mega << 1 << 1 << 2 << 2 << false;
        QTest::addRow("moe ep4 x tp4+sp") << moe << sp << 4 << 1 << 1 << 4 << false;
        QTest::addRow("moe ep4 x attention-dp4") << moe << mega << 4 << 1 << 1 << 4 << true;
        QTest::addRow("moe pp2 x tp2 x ep2 hybrid") << moe << mega << 2 << 2 << 1 << 2 << false;
        QTest::addRow("moe dp2 x tp2 x ep4") << moe << mega << 2 << 1 << 2 << 4 << false;
        QTest::addRow("moe pp2 x dp2 x ep2") << moe << mega << 1 << 2 << 2 << 2 << false;
        // EP x TP: experts split over ep groups, each expert split over etp = dp x tp / ep.
        QTest::addRow("moe ep2 x expert-tp2 (tp4)") << moe << mega << 4 << 1 << 1 << 2 << false;
        QTest::addRow("moe ep2 x expert-tp4 (tp8)") << moe << mega << 8 << 1 << 1 << 2 << false;
        QTest::addRow("moe ep4 x expert-tp2 (tp8+sp)") << moe << sp << 8 << 1 << 1 << 4 << false;
        QTest::addRow("moe dp2 x tp2, ep2 x expert-tp2") << moe << mega << 2 << 1 << 2 << 2 << false;
    }

    void everyLayout()
    {
        QFETCH(QString, model);
        QFETCH(int, mode);
        QFETCH(int, t);
        QFETCH(int, pp);
        QFETCH(int, dp);
        QFETCH(int, ep);
        QFETCH(bool, attentionDP);
        const std::string id = model.toStdString();
        checkRun(makePlan(id.c_str(), TensorMode(mode), t, pp, dp, ep,
                          attentionDP ? AttentionMode::Data : AttentionMode::Heads),
                 id);
    }

    void gridLayouts_data()
    {
        QTest::addColumn<int>("mode");
        QTest::addColumn<QList<int>>("shape");
        QTest::addColumn<int>("pp");
        QTest::addColumn<int>("batch");
        QTest::addRow("2d summa 2x2") << int(TensorMode::Summa2D) << QList<int>{2, 2} << 1 << 8;
        QTest::addRow("2d summa 3x3") << int(TensorMode::Summa2D) << QList<int>{3, 3} << 1 << 9;
        QTest::addRow("2d weight-stationary 2x2") << int(TensorMode::WeightStationary2D) << QList<int>{2, 2} << 1 << 8;
        QTest::addRow("2d weight-stationary 3x3") << int(TensorMode::WeightStationary2D) << QList<int>{3, 3} << 1 << 8;
        QTest::addRow("2d weight-stationary 2x4") << int(TensorMode::WeightStationary2D) << QList<int>{2, 4} << 1 << 8;
        QTest::addRow("2.5d 2x2x2") << int(TensorMode::Tesseract25D) << QList<int>{2, 2, 2} << 1 << 8;
        QTest::addRow("3d 2^3") << int(TensorMode::Cube3D) << QList<int>{2, 2, 2} << 1 << 8;
        QTest::addRow("pp2 x summa 2x2") << int(TensorMode::Summa2D) << QList<int>{2, 2} << 2 << 8;
    }

    void gridLayouts()
    {
        QFETCH(int, mode);
        QFETCH(QList<int>, shape);
        QFETCH(int, pp);
        QFETCH(int, batch);
        Plan plan = makePlan("tiny-dense", TensorMode::Megatron1D, 2, pp, 1, 1, AttentionMode::Heads, batch);
        plan.strategy.tensor_mode = TensorMode(mode);
        plan.strategy.tensor_shape.assign(shape.begin(), shape.end());
        checkRun(plan, "tiny-dense");
    }

    void otherFamilies_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("mode");
        QTest::addColumn<int>("t");
        QTest::addColumn<int>("pp");
        QTest::addColumn<int>("dp");
        QTest::addColumn<bool>("attentionDP");
        for (const QString& m : {QStringLiteral("tiny-gpt2"), QStringLiteral("tiny-qk-norm")}) {
            const QByteArray n = m.toLatin1();
            QTest::addRow("%s single", n.constData()) << m << int(TensorMode::Megatron1D) << 1 << 1 << 1 << false;
            QTest::addRow("%s megatron p=2", n.constData()) << m << int(TensorMode::Megatron1D) << 2 << 1 << 1 << false;
            QTest::addRow("%s megatron p=4", n.constData()) << m << int(TensorMode::Megatron1D) << 4 << 1 << 1 << false;
            QTest::addRow("%s megatron+sp p=4", n.constData())
                << m << int(TensorMode::MegatronSP) << 4 << 1 << 1 << false;
            QTest::addRow("%s column p=4", n.constData()) << m << int(TensorMode::Column1D) << 4 << 1 << 1 << false;
            QTest::addRow("%s row p=2", n.constData()) << m << int(TensorMode::Row1D) << 2 << 1 << 1 << false;
            QTest::addRow("%s attention-dp p=2", n.constData())
                << m << int(TensorMode::Megatron1D) << 2 << 1 << 1 << true;
            QTest::addRow("%s pp2 x tp2", n.constData()) << m << int(TensorMode::Megatron1D) << 2 << 2 << 1 << false;
            QTest::addRow("%s dp2 x tp2", n.constData()) << m << int(TensorMode::Megatron1D) << 2 << 1 << 2 << false;
        }
        QTest::addRow("tiny-qk-norm 2d summa 2x2")
            << QStringLiteral("tiny-qk-norm") << int(TensorMode::Summa2D) << 0 << 1 << 1 << false;
        // LayerNorm, learned positions and biases in the grids.
        QTest::addRow("tiny-gpt2 2d summa 2x2")
            << QStringLiteral("tiny-gpt2") << int(TensorMode::Summa2D) << 0 << 1 << 1 << false;
        QTest::addRow("tiny-gpt2 2d-ws 2x2")
            << QStringLiteral("tiny-gpt2") << int(TensorMode::WeightStationary2D) << 0 << 1 << 1 << false;
        QTest::addRow("tiny-gpt2 3d 2^3")
            << QStringLiteral("tiny-gpt2") << int(TensorMode::Cube3D) << -3 << 1 << 1 << false;
    }

    void otherFamilies()
    {
        QFETCH(QString, model);
        QFETCH(int, mode);
        QFETCH(int, t);
        QFETCH(int, pp);
        QFETCH(int, dp);
        QFETCH(bool, attentionDP);
        const std::string id = model.toStdString();
        Plan plan = makePlan(id.c_str(), TensorMode(mode), t, pp, dp, 1,
                             attentionDP ? AttentionMode::Data : AttentionMode::Heads);
        if (t <= 0) { // a grid: 2x2, or 2x2x2 for t == -3
            plan.strategy.tensor_mode = TensorMode(mode);
            plan.strategy.tensor_shape = t == 0 ? std::vector<int>{2, 2} : std::vector<int>{2, 2, 2};
        }
        checkRun(plan, id);
    }

    void refusedBeforeAnyThreadStarts_data()
    {
        QTest::addColumn<int>("variant");
        QTest::addColumn<QString>("message");
        QTest::addRow("heads over 16") << 0
                                       << QStringLiteral("72 attention heads do not divide over 16 devices (TP16)");
        QTest::addRow("2d moe") << 1 << QStringLiteral("expert layers are modeled with Megatron 1D layouts");
        QTest::addRow("other model") << 2 << QStringLiteral("the weights were made for Tiny dense");
        // These two used to crash (column) or diverge (SP) in the executor.
        QTest::addRow("column attention dp")
            << 3
            << QStringLiteral("attention data parallelism pairs with the Megatron "
                              "layout (its MLP already gathers and reduce-scatters "
                              "the rows, as sequence parallelism would), not with TP4 column attn-DP");
        QTest::addRow("sp attention dp") << 4
                                         << QStringLiteral("attention data parallelism pairs with the Megatron layout");
    }

    void refusedBeforeAnyThreadStarts()
    {
        QFETCH(int, variant);
        QFETCH(QString, message);
        Plan plan = makePlan("tiny-dense", TensorMode::Megatron1D, 8);
        if (variant == 0) {
            plan.topology = PresetLibrary::instance().topology("2x-dgx-h100");
            plan.strategy.tensor_shape = {16};
        } else if (variant == 1) {
            plan.model = PresetLibrary::instance().model("tiny-moe");
            plan.strategy.tensor_mode = TensorMode::Summa2D;
            plan.strategy.tensor_shape = {2, 2};
        } else if (variant == 2) {
            plan.model = PresetLibrary::instance().model("tiny-moe");
        } else {
            plan.strategy.tensor_mode = variant == 3 ? TensorMode::Column1D : TensorMode::MegatronSP;
            plan.strategy.tensor_shape = {4};
            plan.strategy.attention = AttentionMode::Data;
        }
        try {
            run_cpu(plan, weightsOf(variant == 1 ? "tiny-moe" : "tiny-dense"));
            QFAIL("an impossible plan ran");
        } catch (const Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains(message), e.what());
        }
    }

    void failingRankStopsEveryRank_data()
    {
        QTest::addColumn<int>("rank");
        QTest::addColumn<int>("step");
        QTest::addColumn<int>("microbatch");
        QTest::addRow("rank 0 at prefill") << 0 << 0 << 0;
        QTest::addRow("rank 3 at decode step 5") << 3 << 5 << 0;
        QTest::addRow("last stage, second microbatch") << 7 << 2 << 1;
    }

    void failingRankStopsEveryRank()
    {
        QFETCH(int, rank);
        QFETCH(int, step);
        QFETCH(int, microbatch);
        const Plan plan = makePlan("tiny-moe", TensorMode::Megatron1D, 4, 2, 1, 4);
        CpuRunOptions options;
        options.failure = {rank, step, microbatch};
        try {
            run_cpu(plan, weightsOf("tiny-moe"), options);
            QFAIL("the injected failure did not surface");
        } catch (const Error& e) {
            QCOMPARE(QString::fromUtf8(e.what()), QStringLiteral("rank %1: injected failure").arg(rank));
        }
    }

    void cancelStopsTheRun()
    {
        const Plan plan = makePlan("tiny-dense", TensorMode::Megatron1D, 4);
        std::atomic<bool> cancel{false};
        CpuRunOptions options;
        options.cancel = &cancel;
        options.on_step = [&](int step, int, const RankLog&) {
            if (step == 3)
                cancel = true;
        };
        QVERIFY_THROWS_EXCEPTION(Cancelled, run_cpu(plan, weightsOf("tiny-dense"), options));
    }

    void safetensorsRoundTripRunsTheSameModel()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("tiny-moe.safetensors")).toStdString();
        const ModelWeights& generated = weightsOf("tiny-moe");
        save_safetensors(generated, path);
        const ModelWeights loaded = load_safetensors(generated.model(), path);
        QCOMPARE(loaded.parameter_count(), generated.parameter_count());
        for (const auto& [name, m] : generated.tensors())
            QVERIFY2(loaded.get(name).data == m.data, name.c_str());
        const Plan plan = makePlan("tiny-moe", TensorMode::Megatron1D, 2, 1, 1, 2);
        CpuRunOptions options;
        options.decode_steps = 4;
        const RunResult a = run_cpu(plan, generated, options);
        const RunResult b = run_cpu(plan, loaded, options);
        for (std::size_t s = 0; s < a.steps.size(); ++s) {
            QCOMPARE(b.steps[s].next_tokens, a.steps[s].next_tokens);
            QCOMPARE(b.steps[s].hidden, a.steps[s].hidden);
        }
    }

    void brokenSafetensors_data()
    {
        QTest::addColumn<int>("damage");
        QTest::addColumn<QString>("message");
        QTest::addRow("truncated data") << 0 << QStringLiteral("does not fit its shape or the file (truncated?)");
        QTest::addRow("tiny file") << 1 << QStringLiteral("not a safetensors file");
        QTest::addRow("header past the end") << 2 << QStringLiteral("runs past the end");
        QTest::addRow("missing tensor") << 3 << QStringLiteral("tensor 'layers.0.q' is missing");
        QTest::addRow("wrong shape") << 4 << QStringLiteral("tensor 'embed' has shape [1024,100]");
        QTest::addRow("bad header json") << 5 << QStringLiteral("header: malformed JSON at line 1");
    }

    void brokenSafetensors()
    {
        QFETCH(int, damage);
        QFETCH(QString, message);
        QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("w.safetensors")).toStdString();
        const ModelWeights& w = weightsOf("tiny-dense");
        save_safetensors(w, path);
        std::string bytes = read_text_file(path);
        std::uint64_t size = 0;
        std::memcpy(&size, bytes.data(), 8);
        std::string header = bytes.substr(8, size);
        auto rewrite_header = [&](const std::string& h) {
            std::string padded = h;
            padded.append(size > h.size() ? size - h.size() : 0, ' ');
            const std::uint64_t n = padded.size();
            bytes = std::string(reinterpret_cast<const char*>(&n), 8) + padded + bytes.substr(8 + size);
        };
        if (damage == 0) {
            bytes.resize(bytes.size() - 100);
        } else if (damage == 1) {
            bytes = "abc";
        } else if (damage == 2) {
            const std::uint64_t huge = 1ull << 40;
            std::memcpy(bytes.data(), &huge, 8);
        } else if (damage == 3) {
            const auto at = header.find("\"layers.0.q\"");
            header.replace(at, 12, "\"layers.0.Q\"");
            rewrite_header(header);
        } else if (damage == 4) {
            const auto at = header.find("\"shape\":[1024,288]");
            QVERIFY(at != std::string::npos);
            header.replace(at, 18, "\"shape\":[1024,100]");
            rewrite_header(header);
        } else {
            rewrite_header("{\"broken\": ");
        }
        write_text_file(path, bytes);
        try {
            load_safetensors(w.model(), path);
            QFAIL("a broken file loaded");
        } catch (const Error& e) {
            QVERIFY2(QString::fromUtf8(e.what()).contains(message), e.what());
        }
    }

    void ringAllReduceMovesNcclRingBytes()
    {
        // 4 ranks, 1024 floats: every rank sends and receives 2 (n-1)/n x 4096 bytes.
        InProcessWorld world(4);
        std::vector<std::unique_ptr<InProcessCommunicator>> comms;
        for (int r = 0; r < 4; ++r)
            comms.push_back(std::make_unique<InProcessCommunicator>(world, 0, "tp", std::vector<int>{0, 1, 2, 3}, r));
        std::vector<std::vector<float>> data(4, std::vector<float>(1024));
        std::vector<std::thread> threads;
        for (int r = 0; r < 4; ++r) {
            for (int i = 0; i < 1024; ++i)
                data[r][i] = float(r * 1000 + i);
            threads.emplace_back([&, r] { comms[r]->all_reduce(data[r]); });
        }
        for (auto& th : threads)
            th.join();
        for (int r = 0; r < 4; ++r) {
            QCOMPARE(data[r][5], float(6000 + 4 * 5));
            QCOMPARE(comms[r]->records().at(0).sent, qint64(2 * 3 * 4096 / 4));
            QCOMPARE(comms[r]->records().at(0).received, qint64(2 * 3 * 4096 / 4));
        }
    }
};

QTEST_GUILESS_MAIN(TestCpuExecutor)
#include "tst_cpu_executor.moc"
