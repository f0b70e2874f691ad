// The *.shardplan.json format: exact round trips, version checks, strategy validation.
#include "core/plan.h"
#include "core/presets.h"

#include "test_support.h"

#include <QtTest>

using namespace shard;
using shard::test::errorOf;

namespace {

Plan makePlan()
{
    Plan plan;
    plan.name = "Llama-3.1-70B on a DGX H100, TP8";
    plan.model = PresetLibrary::instance().model("llama-3.1-70b");
    plan.topology = PresetLibrary::instance().topology("dgx-h100");
    plan.workload.batch = 8;
    plan.workload.prompt = 2048;
    plan.workload.generate = 256;
    plan.strategy.tensor_mode = TensorMode::Megatron1D;
    plan.strategy.tensor_shape = {8};
    return plan;
}

} // namespace

class TestPlan : public QObject {
    Q_OBJECT

private slots:
    void strategyTextNamesEveryAxis()
    {
        using shard::parse_strategy_text;
        shard::Strategy s = parse_strategy_text("pp=2,dp=1,tp=4,mode=megatron");
        QCOMPARE(s.pp, 2);
        QCOMPARE(s.dp, 1);
        QCOMPARE(s.tensor_mode, shard::TensorMode::Megatron1D);
        QCOMPARE(s.tensor_shape, std::vector<int>{4});
        QCOMPARE(s.devices(), 8);
        s = parse_strategy_text(" tp = 8 , ep=4, attention=data-parallel, lm-head=gather-logits ");
        QCOMPARE(s.tensor_mode, shard::TensorMode::Megatron1D); // the default split of tp > 1
        QCOMPARE(s.ep, 4);
        QCOMPARE(s.attention, shard::AttentionMode::Data);
        QCOMPARE(s.lm_head, shard::LmHeadMode::GatherLogits);
        s = parse_strategy_text("shape=2x2x2,mode=3d-cube");
        QCOMPARE(s.tensor_mode, shard::TensorMode::Cube3D);
        QCOMPARE(s.tensor_shape, (std::vector<int>{2, 2, 2}));
        s = parse_strategy_text("pp=4");
        QCOMPARE(s.tensor_mode, shard::TensorMode::None);
        QVERIFY(s.tensor_shape.empty());
        QCOMPARE(parse_strategy_text("tp=4,mode=megatron"), parse_strategy_text("mode=megatron,shape=4"));
        auto error = [](const char* text) {
            try {
                parse_strategy_text(text);
            } catch (const shard::Error& e) {
                return QString::fromUtf8(e.what());
            }
            return QString();
        };
        QCOMPARE(error("tp=4,colour=red"),
                 QStringLiteral("strategy: unknown field 'colour' (pp, dp, tp, shape, mode, ep, attention, lm-head)"));
        QCOMPARE(error("pp"), QStringLiteral("strategy: 'pp' is not key=value (e.g. pp=2,dp=1,tp=4,mode=megatron)"));
        QCOMPARE(error("pp=two"), QStringLiteral("strategy: pp must be a whole number, got 'two'"));
        QCOMPARE(error("pp=2,pp=4"), QStringLiteral("strategy: pp is given twice"));
        QCOMPARE(error("tp=4,shape=2x2"),
                 QStringLiteral("strategy: shape is given twice (tp= and shape= name the same axes)"));
        QCOMPARE(error("tp=4,mode=none"),
                 QStringLiteral("strategy: mode=none keeps every weight on one GPU, but the tensor size is above 1"));
        QCOMPARE(error("dp=0"), QStringLiteral("strategy: dp must be positive, got 0"));
        QVERIFY(error("shape=2x,mode=2d-summa").contains(QStringLiteral("shape must be a whole number, got ''")));
    }

    void roundTripIsExact_data()
    {
        QTest::addColumn<int>("variant");
        QTest::addRow("tp8") << 0;
        QTest::addRow("pp2 x tp4, custom split, placement") << 1;
        QTest::addRow("summa 2x2 with prediction") << 2;
        QTest::addRow("moe ep8 attn-dp") << 3;
    }

    void roundTripIsExact()
    {
        QFETCH(int, variant);
        Plan plan = makePlan();
        if (variant == 1) {
            plan.strategy.pp = 2;
            plan.strategy.tensor_shape = {4};
            plan.strategy.stage_layers = {38, 42};
            plan.strategy.placement = {7, 6, 5, 4, 3, 2, 1, 0};
        } else if (variant == 2) {
            plan.strategy.tensor_mode = TensorMode::Summa2D;
            plan.strategy.tensor_shape = {2, 2};
            plan.prediction = OrderedJson::parse(R"({"zeta": 1.5, "alpha": [1, 2], "ttft_ms": 12.25})");
        } else if (variant == 3) {
            plan.model = PresetLibrary::instance().model("deepseek-v3");
            plan.topology = PresetLibrary::instance().topology("2x-dgx-h100");
            plan.strategy.dp = 2;
            plan.strategy.attention = AttentionMode::Data;
            plan.strategy.ep = 16;
            plan.strategy.lm_head = LmHeadMode::GatherLogits;
            plan.workload.phase = Phase::Decode;
            plan.workload.kv_dtype = DType::FP8;
            plan.workload.objective = Objective::Throughput;
        }
        plan.validate();
        const QString path = QDir::temp().filePath(QStringLiteral("tst_plan_%1.shardplan.json").arg(variant));
        save_plan(plan, path.toStdString());
        const Plan loaded = load_plan(path.toStdString());
        QVERIFY(loaded == plan);
        const std::string first = read_text_file(path.toStdString());
        save_plan(loaded, path.toStdString());
        QCOMPARE(read_text_file(path.toStdString()), first); // byte-identical, key order kept
        QFile::remove(path);
    }

    void examplePlansLoadAndReSaveIdentically()
    {
        const QDir dir(QStringLiteral(SHARD_SOURCE_DIR "/plans"));
        const auto files = dir.entryList({QStringLiteral("*.shardplan.json")});
        QVERIFY(files.size() >= 3);
        for (const auto& file : files) {
            const std::string path = dir.filePath(file).toStdString();
            const Plan plan = load_plan(path);
            QCOMPARE(QString::fromStdString(plan_to_json(plan).dump(2) + "\n"),
                     QString::fromStdString(read_text_file(path)));
        }
    }

    void newerVersionIsRefused()
    {
        OrderedJson json = plan_to_json(makePlan());
        json["version"] = 7;
        const QString message = errorOf([&] { plan_from_text(json.dump(), "future.shardplan.json"); });
        QCOMPARE(message,
                 QStringLiteral("future.shardplan.json: plan format version 7 was written by a newer ShardStudio; "
                                "this build reads up to version 1. Update ShardStudio to open it."));
    }

    void invalidPlans_data()
    {
        QTest::addColumn<QString>("pointer");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("expected");
        QTest::addRow("not a plan") << QStringLiteral("/format") << QStringLiteral("\"something-else\"")
                                    << QStringLiteral("not a ShardStudio plan");
        QTest::addRow("too many gpus") << QStringLiteral("/strategy/tensor/shape") << QStringLiteral("[16]")
                                       << QStringLiteral("needs 16 GPUs, the topology has 8");
        QTest::addRow("shape rank") << QStringLiteral("/strategy/tensor/shape") << QStringLiteral("[2, 4]")
                                    << QStringLiteral("tensor mode 'megatron' needs a shape of 1 axes");
        QTest::addRow("summa not square")
            << QStringLiteral("/strategy/tensor") << QStringLiteral("{\"mode\": \"2d-summa\", \"shape\": [2, 4]}")
            << QStringLiteral("SUMMA needs a square q x q grid, got 2x4");
        QTest::addRow("unknown mode") << QStringLiteral("/strategy/tensor/mode") << QStringLiteral("\"4d\"")
                                      << QStringLiteral("unknown tensor mode '4d'");
        QTest::addRow("ep does not divide") << QStringLiteral("/strategy/ep") << QStringLiteral("3")
                                            << QStringLiteral("ep (3) must divide dp x tensor size (8)");
        QTest::addRow("stage split") << QStringLiteral("/strategy/stage_layers") << QStringLiteral("[40, 41]")
                                     << QStringLiteral("stage_layers lists 2 stages, pp is 1");
        QTest::addRow("placement duplicate")
            << QStringLiteral("/strategy/placement") << QStringLiteral("[0, 1, 2, 3, 4, 5, 6, 6]")
            << QStringLiteral("placement must list distinct GPU indices below 8");
        QTest::addRow("bad batch") << QStringLiteral("/workload/batch") << QStringLiteral("0")
                                   << QStringLiteral("field 'batch' must be positive");
        QTest::addRow("bad phase") << QStringLiteral("/workload/phase") << QStringLiteral("\"training\"")
                                   << QStringLiteral("unknown phase 'training'");
        QTest::addRow("model field") << QStringLiteral("/model/heads") << QStringLiteral("null")
                                     << QStringLiteral("missing required field 'heads'");
    }

    void invalidPlans()
    {
        QFETCH(QString, pointer);
        QFETCH(QString, value);
        QFETCH(QString, expected);
        Json json = Json::parse(plan_to_json(makePlan()).dump());
        json[Json::json_pointer(pointer.toStdString())] = Json::parse(value.toStdString());
        const QString message = errorOf([&] { plan_from_text(json.dump(), "bad.shardplan.json"); });
        QVERIFY2(message.startsWith(QStringLiteral("bad.shardplan.json")), qPrintable(message));
        QVERIFY2(message.contains(expected), qPrintable(message));
    }

    void malformedFileNamesLineAndColumn()
    {
        const QString message =
            errorOf([] { plan_from_text("{\n  \"format\": \"shardstudio-plan\"\n  \"version\": 1\n}", "p.json"); });
        QVERIFY2(message.startsWith(QStringLiteral("p.json: malformed JSON at line 3, column 11")),
                 qPrintable(message));
    }

    void meshAndLabels_data()
    {
        QTest::addColumn<int>("pp");
        QTest::addColumn<int>("dp");
        QTest::addColumn<QString>("mode");
        QTest::addColumn<QList<int>>("shape");
        QTest::addColumn<int>("ep");
        QTest::addColumn<QString>("label");
        QTest::addColumn<int>("devices");
        QTest::addRow("tp8") << 1 << 1 << QStringLiteral("megatron") << QList<int>{8} << 1 << QStringLiteral("TP8")
                             << 8;
        QTest::addRow("pp2 tp4 sp") << 2 << 1 << QStringLiteral("megatron-sp") << QList<int>{4} << 1
                                    << QStringLiteral("PP2 x TP4+SP") << 8;
        QTest::addRow("summa") << 1 << 1 << QStringLiteral("2d-summa") << QList<int>{3, 3} << 1
                               << QStringLiteral("SUMMA 3x3") << 9;
        QTest::addRow("2.5d") << 1 << 1 << QStringLiteral("2.5d-tesseract") << QList<int>{2, 2, 2} << 1
                              << QStringLiteral("2.5D 2x2x2") << 8;
        QTest::addRow("3d") << 1 << 1 << QStringLiteral("3d-cube") << QList<int>{2, 2, 2} << 1
                            << QStringLiteral("3D 2^3") << 8;
        QTest::addRow("moe") << 2 << 2 << QStringLiteral("megatron") << QList<int>{4} << 8
                             << QStringLiteral("PP2 x DP2 x TP4 x EP8") << 16;
        QTest::addRow("single") << 1 << 1 << QStringLiteral("none") << QList<int>{} << 1 << QStringLiteral("single GPU")
                                << 1;
    }

    void meshAndLabels()
    {
        QFETCH(int, pp);
        QFETCH(int, dp);
        QFETCH(QString, mode);
        QFETCH(QList<int>, shape);
        QFETCH(int, ep);
        QFETCH(QString, label);
        QFETCH(int, devices);
        Strategy s;
        s.pp = pp;
        s.dp = dp;
        s.tensor_mode = parse_tensor_mode(mode.toStdString());
        s.tensor_shape.assign(shape.begin(), shape.end());
        s.ep = ep;
        QCOMPARE(QString::fromStdString(s.label()), label);
        QCOMPARE(s.devices(), devices);
        const auto mesh = s.mesh();
        int product = 1;
        for (const auto& axis : mesh)
            product *= axis.size;
        QCOMPARE(product, devices);
        QCOMPARE(QString::fromStdString(mesh.front().name), QStringLiteral("pp"));
    }

    void balancedStageSplit()
    {
        QCOMPARE(balanced_stage_split(80, 3), (std::vector<int>{27, 27, 26}));
        QCOMPARE(balanced_stage_split(61, 4), (std::vector<int>{16, 15, 15, 15}));
        QCOMPARE(balanced_stage_split(4, 4), (std::vector<int>{1, 1, 1, 1}));
    }
};

QTEST_GUILESS_MAIN(TestPlan)
#include "tst_plan.moc"
