// shardstudio-cli end to end: the commands, their --json output and their errors.
#include "cuda/backend_info.h"

#include "core/plan.h"
#include "core/presets.h"
#include "cost/estimate.h"

#include "cli_runner.h"
#include "perfdb_cell.h"

#include <QtTest>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>

namespace {

using Result = shard::test::CliResult;
using shard::test::runCli;
using shard::test::scratchEnvironment;

// A plan the CPU backend runs and the CUDA engine refuses: tiny-moe with top-9 routing
// over 16 experts (the engine's routing kernel keeps at most 8 per token).
QString refusedPlanFile()
{
    static QTemporaryDir scratch;
    shard::Plan plan = shard::load_plan(SHARD_SOURCE_DIR "/plans/tiny-moe-pp2-tp2-ep2.shardplan.json");
    plan.model.moe->experts = 16;
    plan.model.moe->experts_per_token = 9;
    const QString path = scratch.filePath(QStringLiteral("top9.shardplan.json"));
    shard::save_plan(plan, path.toStdString());
    return path;
}

QJsonDocument json(const Result& r)
{
    return shard::test::jsonOf(r);
}

} // namespace

class TestCli : public QObject {
    Q_OBJECT

private slots:
    void version()
    {
        const Result r = runCli({QStringLiteral("--version")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.startsWith("shardstudio-cli 0."));
        QVERIFY(r.out.contains("CUDA backend: "));
    }

    void helpListsTheCommands()
    {
        const Result r = runCli({QStringLiteral("--help")});
        QCOMPARE(r.exitCode, 0);
        for (const char* command : {"models", "model", "topologies", "topology"})
            QVERIFY2(r.out.contains(command), command);
    }

    void modelsJsonListsEveryPreset()
    {
        const Result r = runCli({QStringLiteral("models"), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        const QJsonArray models = json(r).array();
        QCOMPARE(models.size(), 13);
        bool found = false;
        for (const auto& m : models) {
            if (m[QStringLiteral("id")].toString() == QStringLiteral("mixtral-8x7b")) {
                found = true;
                QCOMPARE(m[QStringLiteral("parameters")][QStringLiteral("total")].toDouble(), 46'702'792'704.0);
                QCOMPARE(m[QStringLiteral("parameters")][QStringLiteral("active_per_token")].toDouble(),
                         12'879'925'248.0);
            }
        }
        QVERIFY(found);
    }

    void modelShow_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<double>("params");
        QTest::addColumn<double>("kvBytes");
        QTest::addRow("preset") << QStringList{QStringLiteral("model"), QStringLiteral("show"),
                                               QStringLiteral("llama-2-70b"), QStringLiteral("--json")}
                                << 68'976'648'192.0 << 327'680.0;
        QTest::addRow("json before command") << QStringList{QStringLiteral("--json"), QStringLiteral("model"),
                                                            QStringLiteral("show"), QStringLiteral("gpt2")}
                                             << 124'439'808.0 << 73'728.0;
        QTest::addRow("config.json") << QStringList{QStringLiteral("model"), QStringLiteral("show"),
                                                    QStringLiteral(SHARD_TEST_FIXTURES "/hf/mistral-7b.json"),
                                                    QStringLiteral("--json")}
                                     << 7'241'732'096.0 << 131'072.0;
    }

    void modelShow()
    {
        QFETCH(QStringList, arguments);
        QFETCH(double, params);
        QFETCH(double, kvBytes);
        const Result r = runCli(arguments);
        QCOMPARE(r.exitCode, 0);
        const QJsonObject model = json(r).object();
        QCOMPARE(model[QStringLiteral("parameters")][QStringLiteral("total")].toDouble(), params);
        QCOMPARE(model[QStringLiteral("kv_cache_bytes_per_token")].toDouble(), kvBytes);
    }

    void modelShowText()
    {
        const Result r = runCli({QStringLiteral("model"), QStringLiteral("show"), QStringLiteral("llama-2-7b")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("6,738,415,616"));
        QVERIFY(r.out.contains("KV cache per token (bf16): 524,288 bytes"));
    }

    void topologyShowAndList()
    {
        Result r = runCli({QStringLiteral("topology"), QStringLiteral("show"), QStringLiteral("2x-dgx-h100"),
                           QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(json(r).object()[QStringLiteral("total_gpus")].toInt(), 16);
        r = runCli({QStringLiteral("topologies")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("gb200-nvl72"));
    }

    void topologyDetectAlwaysAnswers()
    {
        const Result r = runCli({QStringLiteral("topology"), QStringLiteral("detect"), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        const QJsonObject detection = json(r).object();
        QVERIFY(detection.contains(QStringLiteral("gpus")));
        if (detection[QStringLiteral("gpus")].toArray().isEmpty())
            QVERIFY(!detection[QStringLiteral("message")].toString().isEmpty());
    }

    void errors_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QByteArray>("message");
        QTest::addRow("unknown model") << QStringList{QStringLiteral("model"), QStringLiteral("show"),
                                                      QStringLiteral("llama-9")}
                                       << QByteArray("error: unknown model 'llama-9'; presets: deepseek-v3");
        QTest::addRow("missing file") << QStringList{QStringLiteral("model"), QStringLiteral("show"),
                                                     QStringLiteral("/no/config.json")}
                                      << QByteArray("error: /no/config.json: no such file");
        QTest::addRow("unknown topology")
            << QStringList{QStringLiteral("topology"), QStringLiteral("show"), QStringLiteral("dgx")}
            << QByteArray("error: unknown topology 'dgx'");
    }

    void errors()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QByteArray, message);
        const Result r = runCli(arguments);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.startsWith(message), r.err.constData());
    }

    void malformedConfigNamesLineAndColumn()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("config.json"));
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 4096,,\n}\n");
        file.close();
        const Result r = runCli({QStringLiteral("model"), QStringLiteral("show"), path, QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("malformed JSON at line 3, column 23"), r.err.constData());
        QVERIFY(json(r).object()[QStringLiteral("message")].toString().contains(QStringLiteral("line 3")));
        QCOMPARE(json(r).object()[QStringLiteral("event")].toString(), QStringLiteral("error"));
    }
    void planDefaultPrintsARankedTable()
    {
        const Result r = runCli({QStringLiteral("plan")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.startsWith("Llama-3.1-70B"));
        QVERIFY(r.out.contains("All figures are predicted"));
        QVERIFY(r.out.contains(" 1  TP8 "));
        QVERIFY(r.out.contains("feasible of 42 candidates"));
    }

    void planJsonCarriesTheRequiredFields()
    {
        const Result r =
            runCli({QStringLiteral("plan"), QStringLiteral("--model"), QStringLiteral("mixtral-8x7b"),
                    QStringLiteral("--topology"), QStringLiteral("dgx-h100"), QStringLiteral("--batch"),
                    QStringLiteral("16"), QStringLiteral("--top"), QStringLiteral("3"), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        const QJsonArray candidates = json(r).object()[QStringLiteral("candidates")].toArray();
        QCOMPARE(candidates.size(), 3);
        for (const auto& c : candidates) {
            const QJsonObject o = c.toObject();
            for (const char* key : {"mode", "mesh", "feasible", "reason", "memory_per_device_bytes", "memory_breakdown",
                                    "comm_bytes_per_device", "ttft_ms", "tpot_ms", "tokens_per_s"})
                QVERIFY2(o.contains(QLatin1String(key)), key);
            QVERIFY(o[QStringLiteral("feasible")].toBool());
            QVERIFY(!o[QStringLiteral("decode")][QStringLiteral("collectives")].toArray().isEmpty());
        }
    }

    void planSaveExplainExport()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("best.shardplan.json"));
        Result r = runCli({QStringLiteral("plan"), QStringLiteral("--save"), path});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("Saved candidate #1"));
        r = runCli({QStringLiteral("explain"), path});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("dense layer x80"));
        QVERIFY(r.out.contains("AllReduce   o_proj"));
        // Every op says where its time comes from, every phase its share from measured tables.
        QVERIFY2(r.out.contains("% of the busiest GPU's time from measured tables"), r.out.constData());
        r = runCli({QStringLiteral("--json"), QStringLiteral("explain"), path});
        QCOMPARE(r.exitCode, 0);
        const QJsonObject decode = json(r).object()[QStringLiteral("decode")].toObject();
        QVERIFY(decode[QStringLiteral("measured_share")].toDouble() > 0.5);
        QStringList sources;
        for (const auto block : decode[QStringLiteral("blocks")].toArray())
            for (const auto op : block.toObject()[QStringLiteral("ops")].toArray())
                sources << op.toObject()[QStringLiteral("source")].toString();
        QVERIFY2(sources.contains(QStringLiteral("measured")) && sources.contains(QStringLiteral("roofline")),
                 qPrintable(sources.join(QLatin1Char(' '))));
        r = runCli({QStringLiteral("export"), path, QStringLiteral("--to"), QStringLiteral("vllm")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.startsWith("vllm serve <llama-3.1-70b-checkpoint> --tensor-parallel-size 8"), r.out.constData());
        r = runCli({QStringLiteral("export"), path, QStringLiteral("--to"), QStringLiteral("ollama")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("unknown serving engine 'ollama'"));
    }

    void opPricesOneKernelWithItsSource()
    {
        // The shipped H100 table measured this GEMM (m=4096, n=8192, k=8192): the CLI says so
        // and prints the table's own time.
        const double cell = shard::test::shipped_cell_ms("h100_sxm", "gemm.csv", {"bfloat16", "8192", "8192"}, 4096);
        QVERIFY(cell > 0);
        Result r = runCli({QStringLiteral("--json"), QStringLiteral("op"), QStringLiteral("gemm"),
                           QStringLiteral("4096"), QStringLiteral("8192"), QStringLiteral("8192")});
        QCOMPARE(r.exitCode, 0);
        QJsonObject o = json(r).object();
        QCOMPARE(o[QStringLiteral("us")].toDouble(), cell * 1000.0);
        QCOMPARE(o[QStringLiteral("source")].toString(), QStringLiteral("measured"));
        // A GPU without tables: the roofline, named.
        r = runCli({QStringLiteral("op"), QStringLiteral("gemm"), QStringLiteral("1000"), QStringLiteral("8192"),
                    QStringLiteral("8192"), QStringLiteral("--gpu"), QStringLiteral("l4")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("roofline (no measured table for this op on L4)"), r.out.constData());
        // Collectives: in a node from the NCCL table, across nodes from the alpha-beta form.
        r = runCli({QStringLiteral("--json"), QStringLiteral("op"), QStringLiteral("allreduce"),
                    QStringLiteral("134217728"), QStringLiteral("--gpus"), QStringLiteral("8")});
        QCOMPARE(r.exitCode, 0);
        o = json(r).object();
        // nccl-tests' own time for 64 Mi fp16 elements on 8 GPUs.
        const double allReduce =
            shard::test::shipped_cell_ms("h100_sxm", "nccl.csv", {"all_reduce", "half", "8"}, 67108864);
        QVERIFY(allReduce > 0);
        QCOMPARE(o[QStringLiteral("us")].toDouble(), allReduce * 1000.0);
        QCOMPARE(o[QStringLiteral("source")].toString(), QStringLiteral("measured"));
        r = runCli({QStringLiteral("--json"), QStringLiteral("op"), QStringLiteral("allreduce"),
                    QStringLiteral("1048576"), QStringLiteral("--gpus"), QStringLiteral("16"), QStringLiteral("-t"),
                    QStringLiteral("2x-dgx-h100")});
        QCOMPARE(r.exitCode, 0);
        o = json(r).object();
        QVERIFY(o[QStringLiteral("cross_node")].toBool());
        QCOMPARE(o[QStringLiteral("source")].toString(), QStringLiteral("roofline"));
        // Bad input names the problem.
        r = runCli({QStringLiteral("op"), QStringLiteral("gemm"), QStringLiteral("1"), QStringLiteral("2"),
                    QStringLiteral("3"), QStringLiteral("--gpu"), QStringLiteral("abacus")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("unknown GPU 'abacus'"), r.err.constData());
        r = runCli({QStringLiteral("op"), QStringLiteral("allreduce"), QStringLiteral("100"), QStringLiteral("--gpus"),
                    QStringLiteral("64")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("more than the 8 GPUs"), r.err.constData());
    }

    void pricePredictsTheNamedLayoutOnly()
    {
        // The named layout, priced exactly as the cost model prices it.
        const auto& library = shard::PresetLibrary::instance();
        const shard::ModelSpec model = library.model("llama-3.1-70b");
        const shard::Topology topology = library.topology("dgx-h100");
        shard::Strategy pp2tp4;
        pp2tp4.pp = 2;
        pp2tp4.tensor_mode = shard::TensorMode::Megatron1D;
        pp2tp4.tensor_shape = {4};
        shard::Workload w; // the CLI's defaults
        w.batch = 8;
        w.prompt = 2048;
        w.generate = 256;
        const shard::Estimate e = shard::estimate(model, pp2tp4, topology, w);
        Result r = runCli({QStringLiteral("--json"), QStringLiteral("price"), QStringLiteral("--strategy"),
                           QStringLiteral("pp=2,dp=1,tp=4,mode=megatron")});
        QCOMPARE(r.exitCode, 0);
        QJsonObject o = json(r).object();
        QCOMPARE(o[QStringLiteral("strategy")].toObject()[QStringLiteral("label")].toString(),
                 QStringLiteral("PP2 x TP4"));
        QJsonObject prediction = o[QStringLiteral("prediction")].toObject();
        QCOMPARE(prediction[QStringLiteral("tpot_ms")].toDouble(), e.tpot_ms);
        QCOMPARE(prediction[QStringLiteral("ttft_ms")].toDouble(), e.ttft_ms);
        QVERIFY(o[QStringLiteral("prediction_source")].toString().contains(QStringLiteral("measured H100 SXM 80GB")));
        // A plan file's own layout, or another one in its place.
        const QString file = QStringLiteral(SHARD_SOURCE_DIR "/plans/llama-3.1-70b-dgx-h100-tp8.shardplan.json");
        r = runCli({QStringLiteral("price"), file});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("TP8 (mesh tp=8), priced without ranking"), r.out.constData());
        QVERIFY2(r.out.contains("% of it from measured tables"), r.out.constData());
        r = runCli({QStringLiteral("--json"), QStringLiteral("price"), file, QStringLiteral("-s"),
                    QStringLiteral("pp=2,tp=4")});
        QCOMPARE(r.exitCode, 0);
        prediction = json(r).object()[QStringLiteral("prediction")].toObject();
        QCOMPARE(prediction[QStringLiteral("tpot_ms")].toDouble(), e.tpot_ms);
        // A layout that does not fit is priced and marked.
        r = runCli({QStringLiteral("price"), QStringLiteral("-s"), QStringLiteral("tp=1")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("INFEASIBLE: needs 144 GiB per GPU"), r.out.constData());
        // Bad input names the problem.
        r = runCli({QStringLiteral("price"), QStringLiteral("-s"), QStringLiteral("tp=16")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("strategy: needs 16 GPUs, the topology has 8"), r.err.constData());
        r = runCli({QStringLiteral("price"), file, QStringLiteral("--batch"), QStringLiteral("4")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("--batch cannot be combined with a plan file"), r.err.constData());
        r = runCli({QStringLiteral("price")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("name the layout to price"), r.err.constData());
    }

    void exportOfA2DPlanSaysItHasNoEquivalent()
    {
        const Result r = runCli({QStringLiteral("export"),
                                 QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-dense-summa-2x2.shardplan.json"),
                                 QStringLiteral("--to"), QStringLiteral("sglang")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("Not an exact equivalent"));
        QVERIFY(r.out.contains("has no equivalent in sglang"));
    }

    void planErrors_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QByteArray>("message");
        QTest::addRow("zero batch") << QStringList{QStringLiteral("plan"), QStringLiteral("--batch"),
                                                   QStringLiteral("0")}
                                    << QByteArray("--batch: Value 0 not in range");
        QTest::addRow("bad objective") << QStringList{QStringLiteral("plan"), QStringLiteral("--objective"),
                                                      QStringLiteral("speed")}
                                       << QByteArray("error: unknown objective 'speed'");
        QTest::addRow("nothing fits") << QStringList{QStringLiteral("plan"),           QStringLiteral("-m"),
                                                     QStringLiteral("llama-3.1-405b"), QStringLiteral("-t"),
                                                     QStringLiteral("1x-h100"),        QStringLiteral("--save"),
                                                     QStringLiteral("/tmp/never.json")}
                                      << QByteArray("error: no feasible candidate to save");
    }

    void planErrors()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QByteArray, message);
        const Result r = runCli(arguments);
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains(message), r.err.constData());
    }
    void runCpuChecksAndReports()
    {
        QTemporaryDir dir;
        const QString trace = dir.filePath(QStringLiteral("trace.json"));
        const Result r = runCli({QStringLiteral("run"),
                                 QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-moe-pp2-tp2-ep2.shardplan.json"),
                                 QStringLiteral("--steps"), QStringLiteral("4"), QStringLiteral("--trace"), trace});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("greedy tokens identical in all 5 steps"));
        QVERIFY(r.out.contains("byte-exact on every rank and step"));
        QFile file(trace);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QJsonObject t = QJsonDocument::fromJson(file.readAll()).object();
        const QJsonArray events = t[QStringLiteral("traceEvents")].toArray();
        QVERIFY(events.size() > 100);
        int ranks = 0;
        for (const auto& e : events)
            ranks += e[QStringLiteral("name")].toString() == QStringLiteral("thread_name") ? 1 : 0;
        QCOMPARE(ranks, 4);
    }

    void runSummaPlan()
    {
        const Result r = runCli({QStringLiteral("run"),
                                 QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-dense-summa-2x2.shardplan.json"),
                                 QStringLiteral("--steps"), QStringLiteral("3")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("Broadcast"));
        QVERIFY(r.out.contains("byte-exact on every rank and step"));
    }

    void runJsonSpeaksTheEventProtocol()
    {
        const Result r = runCli({QStringLiteral("run"),
                                 QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-moe-pp2-tp2-ep2.shardplan.json"),
                                 QStringLiteral("--steps"), QStringLiteral("2"), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        QMap<QString, int> kinds;
        QJsonObject last;
        for (const QByteArray& line : r.out.split('\n')) {
            if (line.isEmpty())
                continue;
            const QJsonObject e = QJsonDocument::fromJson(line).object();
            QCOMPARE(e[QStringLiteral("v")].toInt(), 1);
            ++kinds[e[QStringLiteral("event")].toString()];
            last = e;
        }
        QCOMPARE(kinds.value(QStringLiteral("start")), 1);
        QCOMPARE(kinds.value(QStringLiteral("progress")), 3);
        QVERIFY(kinds.value(QStringLiteral("op")) > 10);
        QVERIFY(kinds.value(QStringLiteral("collective")) > 10);
        QCOMPARE(last[QStringLiteral("event")].toString(), QStringLiteral("result"));
        QVERIFY(last[QStringLiteral("tokens_match")].toBool());
        QVERIFY(last[QStringLiteral("traffic_exact")].toBool());
        QVERIFY(last[QStringLiteral("max_rel_error")].toDouble() < 1e-5);
    }

    void runRefusals_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QByteArray>("message");
        QTest::addRow("mla on the cpu")
            << QStringList{QStringLiteral("run"),
                           QStringLiteral(SHARD_SOURCE_DIR "/plans/deepseek-v3-2x-dgx-h100-pp2-tp8-ep8.shardplan.json")}
            << QByteArray("multi-head latent attention (MLA) is not implemented in the CPU reference executor");
        // What stops a cuda run depends on the build and the machine; each answer names it.
        const auto info = shard::cuda::backend_info();
        QTest::addRow("cuda backend")
            << QStringList{QStringLiteral("run"), refusedPlanFile(), QStringLiteral("--backend"),
                           QStringLiteral("cuda")}
            << QByteArray(
                   !info.compiled
                       ? "backend 'cuda' is not available: this build has no CUDA engine (built without the CUDA "
                         "toolkit)"
                       : "backend 'cuda' cannot run this plan: top-9 routing is above the engine's top-8"); // GPU or
                                                                                                            // not
        QTest::addRow("model too big for the cpu")
            << QStringList{QStringLiteral("run"),
                           QStringLiteral(SHARD_SOURCE_DIR "/plans/llama-3.1-70b-dgx-h100-tp8.shardplan.json")}
            << QByteArray("the CPU reference executor runs models up to 400 M parameters");
    }

    void runRefusals()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QByteArray, message);
        QStringList withJson = arguments;
        withJson << QStringLiteral("--json");
        const Result r = runCli(withJson);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(message), r.err.constData());
        QVERIFY2(r.out.contains("\"event\":\"error\""), r.out.constData());
    }

    void sigtermStopsARunCleanly()
    {
        QProcess process;
        process.setProcessEnvironment(scratchEnvironment());
        process.start(QStringLiteral(SHARD_BIN_DIR "/shardstudio-cli"),
                      {QStringLiteral("run"),
                       QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-moe-pp2-tp2-ep2.shardplan.json"),
                       QStringLiteral("--steps"), QStringLiteral("100000"), QStringLiteral("--json")});
        QVERIFY(process.waitForStarted());
        // Wait until it is running decode steps, then terminate it.
        QByteArray seen;
        QTRY_VERIFY_WITH_TIMEOUT((seen += process.readAllStandardOutput()).contains("\"event\":\"progress\""), 30000);
        QTest::qWait(100);
        process.terminate(); // SIGTERM
        QVERIFY(process.waitForFinished(20000));
        QCOMPARE(process.exitStatus(), QProcess::NormalExit);
        QCOMPARE(process.exitCode(), 130);
        QVERIFY((seen + process.readAllStandardOutput()).contains("\"status\":\"cancelled\""));
    }
    void historyAfterRuns()
    {
        QTemporaryDir dir;
        const QString db = dir.filePath(QStringLiteral("runs.db"));
        for (int i = 0; i < 2; ++i) {
            const Result r = runCli({QStringLiteral("run"),
                                     QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-moe-pp2-tp2-ep2.shardplan.json"),
                                     QStringLiteral("--steps"), QStringLiteral("2"), QStringLiteral("--db"), db});
            QCOMPARE(r.exitCode, 0);
        }
        Result r = runCli(
            {QStringLiteral("history"), QStringLiteral("--db"), db, QStringLiteral("list"), QStringLiteral("--json")});
        QCOMPARE(r.exitCode, 0);
        const QJsonArray runs = json(r).array();
        QCOMPARE(runs.size(), 2);
        QCOMPARE(runs[0][QStringLiteral("status")].toString(), QStringLiteral("completed"));
        QVERIFY(runs[0][QStringLiteral("measured")][QStringLiteral("tpot_ms")].toDouble() > 0);
        QVERIFY(runs[0][QStringLiteral("predicted")][QStringLiteral("tpot_ms")].toDouble() > 0);
        r = runCli({QStringLiteral("history"), QStringLiteral("--db"), db, QStringLiteral("compare"),
                    QStringLiteral("1"), QStringLiteral("2")});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("TPOT measured"));
        // Collectives are compared too, named as such, each with the plan's prediction.
        for (const char* kind : {"AllReduce", "SendRecv"})
            for (const char* side : {"measured", "predicted"}) {
                const QByteArray name = QByteArray(kind) + " (collective) " + side;
                const qsizetype at = r.out.indexOf(name);
                QVERIFY2(at >= 0, r.out.constData());
                const QByteArray line = r.out.mid(at, r.out.indexOf('\n', at) - at);
                QVERIFY2(!line.contains(" - "), line.constData()); // a figure for both runs
            }
        r = runCli(
            {QStringLiteral("history"), QStringLiteral("--db"), db, QStringLiteral("export"), QStringLiteral("--csv")});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(r.out.count('\n'), 3); // header + 2 runs
        r = runCli(
            {QStringLiteral("history"), QStringLiteral("--db"), db, QStringLiteral("delete"), QStringLiteral("1")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("add --yes to confirm"));
        r = runCli({QStringLiteral("history"), QStringLiteral("--db"), db, QStringLiteral("delete"),
                    QStringLiteral("1"), QStringLiteral("--yes")});
        QCOMPARE(r.exitCode, 0);
        r = runCli(
            {QStringLiteral("history"), QStringLiteral("--db"), db, QStringLiteral("show"), QStringLiteral("1")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("no run 1"));
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
