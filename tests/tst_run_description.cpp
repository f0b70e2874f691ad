// A run described once (engine/run/run_description.h): every option checked against the
// plan with a message naming it, the run resolved (steps, element type, priced workload),
// and the JSON that shardstudio-cli hands shard-engine read back to the same run.
#include "run/run_description.h"

#include "core/presets.h"

#include "test_support.h"

#include <QtTest>

#include <limits>

using namespace shard;
using shard::test::errorOf;

namespace {

Plan tinyPlan()
{
    Plan plan;
    plan.name = "tiny dense, TP2";
    plan.model = PresetLibrary::instance().model("tiny-dense");
    plan.topology = PresetLibrary::instance().topology("dgx-h100");
    plan.workload.batch = 2;
    plan.workload.prompt = 8;
    plan.workload.generate = 5;
    plan.workload.dtype = plan.workload.kv_dtype = DType::FP8;
    plan.strategy.tensor_mode = TensorMode::Megatron1D;
    plan.strategy.tensor_shape = {2};
    return plan;
}

run::RunRequest cudaRequest()
{
    run::RunRequest request;
    request.backend = "cuda";
    return request;
}

} // namespace

class TestRunDescription : public QObject {
    Q_OBJECT

private slots:
    void everyOptionIsCheckedByName_data()
    {
        QTest::addColumn<QString>("field");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("expected");
        QTest::newRow("backend") << QStringLiteral("backend") << QStringLiteral("tpu")
                                 << QStringLiteral("unknown backend 'tpu' (expected cpu, cuda or cuda-emulated)");
        QTest::newRow("dtype") << QStringLiteral("dtype") << QStringLiteral("fp8")
                               << QStringLiteral(
                                      "unknown dtype 'fp8' for the CUDA engine (expected bf16, fp16 or fp32)");
        QTest::newRow("graphs") << QStringLiteral("graphs") << QStringLiteral("yes")
                                << QStringLiteral("--graphs takes on or off, not 'yes'");
        QTest::newRow("overlap") << QStringLiteral("overlap") << QStringLiteral("1")
                                 << QStringLiteral("--overlap takes on or off, not '1'");
        QTest::newRow("threads") << QStringLiteral("threads") << QStringLiteral("two")
                                 << QStringLiteral("--threads must be per-gpu or one, not 'two'");
        QTest::newRow("steps") << QStringLiteral("steps") << QStringLiteral("-2")
                               << QStringLiteral("--steps must be 0 to 1048576, not -2");
    }
    void everyOptionIsCheckedByName()
    {
        QFETCH(QString, field);
        QFETCH(QString, value);
        QFETCH(QString, expected);
        run::RunRequest request = cudaRequest();
        const std::string v = value.toStdString();
        if (field == QStringLiteral("backend"))
            request.backend = v;
        else if (field == QStringLiteral("dtype"))
            request.dtype = v;
        else if (field == QStringLiteral("graphs"))
            request.graphs = v;
        else if (field == QStringLiteral("overlap"))
            request.overlap = v;
        else if (field == QStringLiteral("threads"))
            request.threads = v;
        else
            request.steps = std::stoi(v);
        QCOMPARE(errorOf([&] { run::describe_run(tinyPlan(), request); }), expected);
    }

    void theRunIsResolvedOnce()
    {
        // The cpu backend computes in fp32 whatever --dtype says, and prices the plan as written.
        run::RunRequest cpu;
        cpu.dtype = "bf16";
        const run::RunDescription onCpu = run::describe_run(tinyPlan(), cpu);
        QCOMPARE(onCpu.backend, run::Backend::Cpu);
        QCOMPARE(onCpu.dtype, DType::FP32);
        QCOMPARE(onCpu.decode_steps, 5); // the plan's generated tokens
        QCOMPARE(onCpu.steps(), 6);
        QCOMPARE(onCpu.priced_plan(), tinyPlan());

        run::RunRequest gpu = cudaRequest();
        gpu.backend = "cuda-emulated";
        gpu.dtype = "bfloat16";
        gpu.graphs = "off";
        gpu.overlap = "on";
        gpu.threads = "one";
        gpu.steps = 0;
        gpu.seed = 7;
        gpu.weights = "w.safetensors";
        const run::RunDescription onGpu = run::describe_run(tinyPlan(), gpu);
        QCOMPARE(onGpu.backend, run::Backend::CudaEmulated);
        QVERIFY(onGpu.on_gpu());
        QCOMPARE(onGpu.dtype, DType::BF16);
        QVERIFY(!onGpu.graphs);
        QVERIFY(onGpu.overlap);
        QVERIFY(!onGpu.thread_per_gpu);
        QCOMPARE(onGpu.decode_steps, 0);
        QCOMPARE(onGpu.steps(), 1);
        QCOMPARE(onGpu.seed, std::uint64_t(7));
        QCOMPARE(onGpu.weights, std::string("w.safetensors"));
        QCOMPARE(onGpu.plan, tinyPlan()); // stored as loaded
        // Priced as the engine computes it: weights, activations and KV cache in bf16.
        const Plan priced = onGpu.priced_plan();
        QCOMPARE(priced.workload.dtype, DType::BF16);
        QCOMPARE(priced.workload.kv_dtype, DType::BF16);
        QCOMPARE(priced.strategy, tinyPlan().strategy);
    }

    void theEnginesJsonReadsBackToTheSameRun()
    {
        run::RunRequest request = cudaRequest();
        request.dtype = "fp16";
        request.steps = 3;
        request.seed = std::numeric_limits<std::uint64_t>::max(); // above int64: kept exactly
        request.threads = "one";
        const run::RunDescription described = run::describe_run(tinyPlan(), request);
        const std::string text = dump_json(run::run_description_to_json(described));
        const run::RunDescription read = run::run_description_from_text(text, "stdin");
        QVERIFY(read == described);
        QCOMPARE(read.seed, std::numeric_limits<std::uint64_t>::max());
        QCOMPARE(dump_json(run::run_description_to_json(read)), text);
    }

    void aBadDescriptionIsNamed_data()
    {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("expected");
        QTest::newRow("format") << QStringLiteral("format") << QStringLiteral("\"shardstudio-plan\"")
                                << QStringLiteral("stdin: not a ShardStudio run description (field 'format' is "
                                                  "\"shardstudio-plan\", expected \"shardstudio-run\")");
        QTest::newRow("version") << QStringLiteral("version") << QStringLiteral("2")
                                 << QStringLiteral("stdin: run description version 2 was written by a newer "
                                                   "ShardStudio; this build reads up to version 1");
        QTest::newRow("threads") << QStringLiteral("threads") << QStringLiteral("\"all\"")
                                 << QStringLiteral("stdin: field 'threads' must be per-gpu or one, not 'all'");
        QTest::newRow("seed") << QStringLiteral("seed") << QStringLiteral("-1")
                              << QStringLiteral("stdin: field 'seed' must be an unsigned integer");
        QTest::newRow("backend") << QStringLiteral("backend") << QStringLiteral("\"gpu\"")
                                 << QStringLiteral("unknown backend 'gpu' (expected cpu, cuda or cuda-emulated)");
    }
    void aBadDescriptionIsNamed()
    {
        QFETCH(QString, key);
        QFETCH(QString, json);
        QFETCH(QString, expected);
        OrderedJson j = run::run_description_to_json(run::describe_run(tinyPlan(), cudaRequest()));
        j[key.toStdString()] = OrderedJson::parse(json.toStdString());
        const std::string text = dump_json(j);
        QCOMPARE(errorOf([&] { run::run_description_from_text(text, "stdin"); }), expected);
    }
};

QTEST_GUILESS_MAIN(TestRunDescription)
#include "tst_run_description.moc"
