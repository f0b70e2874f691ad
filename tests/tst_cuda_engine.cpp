// The CUDA engine: what runs everywhere (dtype parsing, the layouts it refuses, the selftest
// matrix, the workspace arena, shard-engine's answers without a GPU) and, where a GPU is
// present, the selftest matrix itself against the CPU reference. GPU-only checks skip with
// the reason when the machine has no usable GPU.
#include "run/run_description.h"
#include "test_support.h"

#include "cost/shard_geometry.h"
#include "cpu/cpu_executor.h"
#include "cuda/backend_info.h"
#include "cuda/collective_check.h"
#include "cuda/device_resources.h"
#include "cuda/gpu_executor.h"
#include "cuda/gpu_run_parts.h"
#include "cuda/gpu_selftest.h"
#include "cuda/kernels.h"
#include "cuda/moe_kernel_check.h"

#include "core/plan.h"
#include "core/presets.h"

#include <QtTest>

#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>

#include <set>

using namespace shard;
using shard::test::errorOf;

namespace {

struct Result {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

Result runProgram(const QString& program, const QStringList& arguments, const QByteArray& input = {})
{
    static QTemporaryDir data;
    QProcess process;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("XDG_DATA_HOME"), data.path());
    process.setProcessEnvironment(env);
    process.start(QStringLiteral(SHARD_BIN_DIR "/") + program, arguments);
    process.write(input);
    process.closeWriteChannel();
    if (!process.waitForFinished(300'000))
        return {};
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1, process.readAllStandardOutput(),
            process.readAllStandardError()};
}

Plan examplePlan(const char* file)
{
    return load_plan(std::string(SHARD_SOURCE_DIR "/plans/") + file);
}

// A plan the CPU backend runs and the CUDA engine refuses: tiny-moe with top-9 routing
// over 16 experts (the engine's routing kernel keeps at most 8 per token).
QString refusedPlanFile()
{
    static QTemporaryDir scratch;
    Plan plan = load_plan(SHARD_SOURCE_DIR "/plans/tiny-moe-pp2-tp2-ep2.shardplan.json");
    plan.model.moe->experts = 16;
    plan.model.moe->experts_per_token = 9;
    const QString path = scratch.filePath(QStringLiteral("top9.shardplan.json"));
    save_plan(plan, path.toStdString());
    return path;
}

QString gpuReason()
{
    const auto info = cuda::backend_info();
    return info.usable() ? QString() : QString::fromStdString(info.reason);
}

} // namespace

class TestCudaEngine : public QObject {
    Q_OBJECT

private slots:
    void dtypes_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<int>("bytes");
        QTest::addRow("bf16") << QStringLiteral("bf16") << 2;
        QTest::addRow("fp16") << QStringLiteral("fp16") << 2;
        QTest::addRow("fp32") << QStringLiteral("fp32") << 4;
    }

    void dtypes()
    {
        QFETCH(QString, text);
        QFETCH(int, bytes);
        const cuda::GpuDType type = cuda::parse_gpu_dtype(text.toStdString());
        QCOMPARE(int(cuda::element_size(type)), bytes);
        QCOMPARE(QString::fromStdString(cuda::to_string(type)), text);
        QCOMPARE(bytes_per_element(cuda::to_plan_dtype(type)), bytes);
    }

    void unknownDtypeIsNamed()
    {
        QCOMPARE(errorOf([] { cuda::parse_gpu_dtype("fp8"); }),
                 QStringLiteral("unknown dtype 'fp8' for the CUDA engine (expected bf16, fp16 or fp32)"));
    }

    void toleranceFollowsTheDtype()
    {
        QCOMPARE(cuda::tolerance(cuda::GpuDType::F32), 1e-5);
        QCOMPARE(cuda::tolerance(cuda::GpuDType::BF16), 2e-2);
    }

    void layoutsTheEngineRefuses_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("reason");
        QTest::addRow("tp8") << QStringLiteral("tiny-dense-dgx-h100-tp8.shardplan.json") << QString();
        QTest::addRow("llama tp8") << QStringLiteral("llama-3.1-70b-dgx-h100-tp8.shardplan.json") << QString();
        QTest::addRow("summa") << QStringLiteral("tiny-dense-summa-2x2.shardplan.json") << QString();
        QTest::addRow("moe ep across dp") << QStringLiteral("tiny-moe-dp2-tp2-ep4.shardplan.json") << QString();
        QTest::addRow("moe pp2 x tp2 x ep2") << QStringLiteral("tiny-moe-pp2-tp2-ep2.shardplan.json") << QString();
        QTest::addRow("mixtral tp8 x ep8")
            << QStringLiteral("mixtral-8x7b-dgx-h100-tp8-ep8.shardplan.json") << QString();
        QTest::addRow("mla")
            << QStringLiteral("deepseek-v3-2x-dgx-h100-pp2-tp8-ep8.shardplan.json")
            << QStringLiteral("multi-head latent attention (MLA) is not implemented in the CPU reference executor");
    }

    void layoutsTheEngineRefuses()
    {
        QFETCH(QString, file);
        QFETCH(QString, reason);
        const Plan plan = examplePlan(file.toUtf8().constData());
        QCOMPARE(QString::fromStdString(cuda::gpu_unsupported_reason(plan.model, plan.strategy)), reason);
    }

    void moeWithTensorParallelExpertsIsAccepted()
    {
        Plan plan = examplePlan("tiny-moe-pp2-tp2-ep2.shardplan.json");
        plan.strategy.pp = 1;
        plan.strategy.ep = 1;
        QCOMPARE(QString::fromStdString(cuda::gpu_unsupported_reason(plan.model, plan.strategy)), QString());
        ModelSpec biased = plan.model;
        biased.moe->router_bias = true;
        QCOMPARE(
            QString::fromStdString(cuda::gpu_unsupported_reason(biased, plan.strategy)),
            QStringLiteral(
                "routers with a score-correction bias are not in the CUDA engine yet (the CPU backend runs them)"));
        ModelSpec wide = plan.model;
        wide.moe->experts_per_token = 9;
        wide.moe->experts = 16;
        QCOMPARE(QString::fromStdString(cuda::gpu_unsupported_reason(wide, plan.strategy)),
                 QStringLiteral("top-9 routing is above the engine's top-8"));
        Strategy over_replicas = plan.strategy; // expert groups that cross data-parallel replicas
        over_replicas.dp = 2;
        over_replicas.ep = 2;
        QCOMPARE(QString::fromStdString(cuda::gpu_unsupported_reason(plan.model, over_replicas)), QString());
        over_replicas.pp = 2; // with pipeline stages too
        QCOMPARE(QString::fromStdString(cuda::gpu_unsupported_reason(plan.model, over_replicas)), QString());
        // Column / row MoE layers: the planner models expert layers with Megatron only, so
        // no backend is asked to run them.
        Strategy column = plan.strategy;
        column.tensor_mode = TensorMode::Column1D;
        QCOMPARE(QString::fromStdString(shard_geometry(plan.model, column, plan.workload).reject),
                 QStringLiteral("expert layers are modeled with Megatron 1D layouts (TPn, TPn+SP), not ")
                     + QString::fromStdString(column.label()));
    }

    void pipelineAndDataParallelPlansAreAccepted()
    {
        Plan plan = examplePlan("tiny-dense-dgx-h100-tp8.shardplan.json");
        plan.strategy.tensor_shape = {2};
        plan.strategy.pp = 2;
        plan.strategy.dp = 2;
        QCOMPARE(QString::fromStdString(cuda::gpu_unsupported_reason(plan.model, plan.strategy)), QString());
        plan.strategy.attention = AttentionMode::Data;
        QCOMPARE(QString::fromStdString(cuda::gpu_unsupported_reason(plan.model, plan.strategy)), QString());
        // With SP or the column layout the planner itself refuses attention DP (a run of
        // either used to crash or diverge in the CPU executor), so no backend sees it.
        for (const TensorMode mode : {TensorMode::MegatronSP, TensorMode::Column1D}) {
            plan.strategy.tensor_mode = mode;
            const ShardGeometry g = shard_geometry(plan.model, plan.strategy, plan.workload);
            QCOMPARE(
                QString::fromStdString(g.reject),
                QStringLiteral("attention data parallelism pairs with the Megatron layout (its MLP already gathers and "
                               "reduce-scatters the rows, as sequence parallelism would), not with ")
                    + QString::fromStdString(plan.strategy.label()));
        }
    }

    void graphsAreOffWhereTheStepCannotBeCaptured()
    {
        Plan plan = examplePlan("tiny-dense-dgx-h100-tp8.shardplan.json");
        QVERIFY(cuda::gpu_graphs_apply(plan, true));
        QVERIFY(!cuda::gpu_graphs_apply(plan, false));
        plan.strategy.dp = 2;
        QVERIFY(cuda::gpu_graphs_apply(plan, true)); // each replica captures its own
        plan.strategy.pp = 2;
        QVERIFY(!cuda::gpu_graphs_apply(plan, true));
        QVERIFY(QString::fromStdString(cuda::gpu_graphs_note(plan))
                    .startsWith(QStringLiteral("CUDA graphs are off for pipelines")));
        const Plan moe = examplePlan("tiny-moe-pp2-tp2-ep2.shardplan.json");
        QVERIFY(QString::fromStdString(cuda::gpu_graphs_note(moe))
                    .startsWith(QStringLiteral("CUDA graphs are off for MoE")));
    }

    // Two drivers of a dp2 plan (a thread or an MPI process per GPU): each carries its own
    // replica's results and its rank's log; the merge puts them in plan order.
    void runPartsMergeInPlanOrder()
    {
        Plan plan = examplePlan("tiny-dense-dgx-h100-tp8.shardplan.json");
        plan.strategy.tensor_mode = TensorMode::None;
        plan.strategy.tensor_shape = {};
        plan.strategy.dp = 2;
        plan.workload.batch = 2;
        const std::int64_t h = plan.model.hidden;
        auto part = [&](int rank, float value, double ms) {
            cuda::GpuRunPart p;
            run::StepOutput out{std::vector<float>(std::size_t(2 * h), 0.0f), {0, 0}};
            std::fill_n(out.hidden.begin() + rank * h, h, value);
            out.next_tokens[std::size_t(rank)] = 100 + rank;
            p.steps = {out};
            p.times = {cuda::GpuStepTime{ms, 0, ms, false}};
            p.outputs = {rank};
            p.ranks = {rank};
            RankLog log;
            log.ops.push_back({"mlp", "mlp_up", 0, 0, 1.5, 2.25});
            CollectiveRecord c;
            c.kind = CollectiveKind::SendRecv;
            c.group = "pp";
            c.payload = c.sent = 4096 + rank;
            log.records.push_back(c);
            log.step_end_us = {10.0 + rank};
            p.logs = {log};
            p.stages = {0};
            p.weight_bytes = std::size_t(1000 + rank);
            return p;
        };
        // Through JSON and back, as parts travel between MPI processes.
        const auto travel = [](const cuda::GpuRunPart& p) {
            return cuda::gpu_run_part_from_json(OrderedJson::parse(cuda::to_json(p).dump()));
        };
        std::vector<cuda::GpuRunPart> parts{travel(part(1, 2.5f, 7.0)), travel(part(0, -1.25f, 3.0))};
        const cuda::GpuRunResult run = cuda::merge_gpu_parts(plan, parts);
        QCOMPARE(run.run.steps.size(), std::size_t(1));
        QCOMPARE(run.run.steps[0].hidden[0], -1.25f);
        QCOMPARE(run.run.steps[0].hidden[std::size_t(h)], 2.5f);
        QCOMPARE(run.run.steps[0].next_tokens, (std::vector<std::int64_t>{100, 101}));
        QCOMPARE(run.times[0].gpu_ms, 7.0); // the slowest driver's step
        QCOMPARE(run.weight_bytes, std::size_t(1001));
        QCOMPARE(run.run.logs[1].records.at(0).payload, std::int64_t(4097));
        QCOMPARE(run.run.logs[1].records.at(0).kind, CollectiveKind::SendRecv);
        QCOMPARE(run.run.logs[0].ops.at(0).us, 2.25);
        QCOMPARE(run.run.logs[0].step_end_us, std::vector<double>{10.0});
        // A rank nobody reported is an error that names it.
        parts.pop_back();
        try {
            cuda::merge_gpu_parts(plan, parts);
            QFAIL("merged a run with a rank missing");
        } catch (const std::exception& e) {
            QCOMPARE(QString::fromUtf8(e.what()), QStringLiteral("rank 0 of 2 did not report"));
        }
    }

    // shard-engine-mpi under mpirun: MPI carries one NCCL id to every process (no GPU needed
    // for that), and a run stops every process with the reason, rank 0 reporting it.
    void mpiLauncherBootstrapsEveryProcess()
    {
        const QString launcher = QStringLiteral(SHARD_BIN_DIR "/shard-engine-mpi");
        const QString mpirun = QStandardPaths::findExecutable(QStringLiteral("mpirun"));
        if (!QFileInfo::exists(launcher) || mpirun.isEmpty())
            QSKIP("built without MPI (install libopenmpi-dev and openmpi-bin)");
        const QStringList job{QStringLiteral("--allow-run-as-root"), QStringLiteral("--oversubscribe"),
                              QStringLiteral("-n"), QStringLiteral("3"), launcher};
        QProcess process;
        process.start(mpirun, job + QStringList{QStringLiteral("bootstrap")});
        QVERIFY(process.waitForFinished(120'000));
        QCOMPARE(process.exitCode(), 0);
        const QJsonObject report = QJsonDocument::fromJson(process.readAllStandardOutput().trimmed()).object();
        QCOMPARE(report.value(QStringLiteral("event")).toString(), QStringLiteral("bootstrap"));
        QCOMPARE(report.value(QStringLiteral("processes")).toInt(), 3);
        QVERIFY(report.value(QStringLiteral("same_nccl_id")).toBool());
        std::set<int> local;
        for (const auto& rank : report.value(QStringLiteral("ranks")).toArray())
            local.insert(rank.toObject().value(QStringLiteral("local_rank")).toInt());
        QCOMPARE(local, (std::set<int>{0, 1, 2})); // one machine: every process its own GPU index

        process.start(mpirun, job
                                  + QStringList{QStringLiteral("run"),
                                                QStringLiteral(SHARD_SOURCE_DIR
                                                               "/plans/tiny-dense-dgx-h100-tp8.shardplan.json")});
        QVERIFY(process.waitForFinished(120'000));
        QVERIFY(process.exitCode() != 0);
        const QList<QByteArray> lines = process.readAllStandardOutput().trimmed().split('\n');
        QCOMPARE(lines.size(), 1); // rank 0 alone reports
        const QJsonObject error = QJsonDocument::fromJson(lines.front()).object();
        QCOMPARE(error.value(QStringLiteral("event")).toString(), QStringLiteral("error"));
        const QString reason = gpuReason();
        QCOMPARE(error.value(QStringLiteral("message")).toString(),
                 reason.isEmpty() ? QStringLiteral("the plan has 8 ranks (TP8); start it with mpirun -n 8, not 3")
                                  : QStringLiteral("the CUDA backend cannot run here: ") + reason);
    }

    void selftestMatrix()
    {
        const auto cases = cuda::selftest_cases({cuda::GpuDType::F32, cuda::GpuDType::BF16}, 1);
        std::set<std::string> names;
        int emulated = 0, sequence_parallel = 0, eager = 0, meshes = 0, overlapped = 0, column_or_row = 0,
            attention_dp = 0, expert_parallel = 0, grids = 0;
        for (const auto& c : cases) {
            grids += tensor_rank(c.plan.strategy.tensor_mode) > 1 ? 1 : 0;
            QVERIFY2(names.insert(c.name).second, c.name.c_str());
            QVERIFY(cuda::gpu_unsupported_reason(c.plan.model, c.plan.strategy).empty());
            QCOMPARE(c.emulated, c.plan.strategy.devices() > 1); // one GPU: every multi-rank case is emulated
            meshes += c.plan.strategy.pp > 1 || c.plan.strategy.dp > 1 ? 1 : 0;
            emulated += c.emulated ? 1 : 0;
            sequence_parallel += c.plan.strategy.tensor_mode == TensorMode::MegatronSP ? 1 : 0;
            column_or_row +=
                c.plan.strategy.tensor_mode == TensorMode::Column1D || c.plan.strategy.tensor_mode == TensorMode::Row1D;
            attention_dp += c.plan.strategy.attention == AttentionMode::Data ? 1 : 0;
            expert_parallel += c.plan.strategy.ep > 1 ? 1 : 0;
            eager += c.graphs ? 0 : 1;
            if (c.overlap) {
                ++overlapped;
                QCOMPARE(c.dtype, cuda::GpuDType::F32);
                QVERIFY(c.plan.strategy.tensor_size() > 1); // something to overlap
            }
            QCOMPARE(to_plan_dtype(c.dtype) == c.plan.workload.dtype, true);
        }
        // Per dtype 23 one-group Megatron cases: 6 layouts for tiny-dense, tiny-qk-norm and
        // tiny-gqa-d32, 5 for tiny-gpt2 (12 heads do not split 8 ways); fp32 adds TP2 with
        // graphs off per dense model and the 6 layouts of tiny-moe (MoE is checked in fp32
        // only). Column TP2 / TP4 and row TP4 / TP8: 4 per dense model and dtype. Meshes per
        // dtype: 6 for tiny-dense (pp2, pp4, dp2, pp2 x tp2, dp2 x tp2, pp2 x tp2+sp), 5 for
        // tiny-gpt2 (2 layers: no pp4); fp32 adds the 6 of tiny-moe. Overlap: tiny-dense fp32
        // TP2, TP8, TP2+SP, column TP2, row TP4, pp2 x TP2 and pp2 x TP2+SP. Attention DP at
        // TP2 and TP4: 2 per dense model and dtype, 2 for tiny-moe in fp32.
        // Expert parallelism, tiny-moe in fp32: EP2 x TP2, EP4 x TP4, EP2 x expert-TP2 (TP4),
        // EP2 x expert-TP4 (TP8), EP4 x TP4+SP, EP4 x attention-DP4, pp2 x TP2 x EP2.
        // Grids per dtype: SUMMA 2x2 and 3x3, weight-stationary 2x2 and 2x4, 2.5D 2x2x2, 3D
        // 2^3 and pp2 x SUMMA 2x2 for tiny-dense and tiny-qk-norm (7 each); tiny-gpt2 has 12
        // heads (no 2x4), tiny-gqa-d32 a hidden size of 256 (no 3x3): 6 each. fp32 tiny-dense
        // runs all 7 once more under overlap.
        const int grid_cases = 2 * (7 + 7 + 6 + 6) + 7;
        QCOMPARE(grids, grid_cases);
        // Experts across replicas, tiny-moe fp32: EP2 over DP2, PP2 x DP2 x EP2, DP2 x TP2 x EP4,
        // DP2 x TP2 with EP2 x expert-TP2 (4 more meshes, 4 more EP cases).
        // tiny-moe's DP2 and DP2 x TP2 without EP are no cases: the planner wants MoE replicas'
        // experts to span them (2 fewer).
        QCOMPARE(int(cases.size()), 2 * 23 + 4 + 6 + 2 * 16 + 2 * 11 + 6 + 7 + 2 * 8 + 2 + 7 + grid_cases + 4 - 2);
        QCOMPARE(meshes, 2 * 11 + 6 + 2 + 1 + 2 * 4 + 1 + 4 - 2);
        QCOMPARE(attention_dp, 2 * 8 + 2 + 1);
        QCOMPARE(expert_parallel, 7 + 4);
        QCOMPARE(emulated, 2 * 19 + 4 + 5 + 2 * 16 + 2 * 11 + 6 + 7 + 2 * 8 + 2 + 7 + grid_cases + 4 - 2);
        QCOMPARE(sequence_parallel, 2 * 8 + 2 + 2 * 2 + 1 + 2 + 1);
        QCOMPARE(column_or_row, 2 * 16 + 2);
        QCOMPARE(eager, 4);
        QCOMPARE(overlapped, 7 + 7);
        int moe = 0;
        for (const auto& c : cases)
            if (c.plan.model.is_moe()) {
                ++moe;
                QCOMPARE(c.dtype, cuda::GpuDType::F32);
            }
        QCOMPARE(moe, 21 + 4 - 2); // four with experts across replicas, two without a feasible plan
        for (const auto& c : cases)
            QVERIFY(c.thread_per_gpu); // one GPU: nothing to drive from one thread instead
        // With eight GPUs only SUMMA 3x3 (nine ranks) is emulated: tiny-dense (twice, with
        // overlap), tiny-gpt2 and tiny-qk-norm; TP2 runs once more from one host thread.
        int lockstep = 0, emulated_on_eight = 0;
        for (const auto& c : cuda::selftest_cases({cuda::GpuDType::F32}, 8)) {
            emulated_on_eight += c.emulated ? 1 : 0;
            QCOMPARE(c.emulated, c.plan.strategy.devices() > 8);
            lockstep += c.thread_per_gpu ? 0 : 1;
        }
        QCOMPARE(emulated_on_eight, 4);
        QCOMPARE(lockstep, 1);
    }

    void arenaMeasuresThenBinds()
    {
        cuda::Arena measure;
        QVERIFY(measure.take(10) == nullptr);
        QVERIFY(measure.take(300) == nullptr);
        QCOMPARE(measure.used(), std::size_t(256 + 300)); // every slice starts 256-byte aligned
        std::vector<char> block(measure.used());
        cuda::Arena arena(block.data(), block.size());
        QCOMPARE(static_cast<char*>(arena.take(10)), block.data());
        QCOMPARE(static_cast<char*>(arena.take(300)), block.data() + 256);
        QVERIFY(errorOf([&] { arena.take(1); }).startsWith(QStringLiteral("workspace arena overflow")));
    }

    void engineWithoutAGpuSaysWhy()
    {
        if (gpuReason().isEmpty())
            QSKIP("this machine has a usable GPU");
        const Result devices = runProgram(QStringLiteral("shard-engine"), {QStringLiteral("devices")});
        QCOMPARE(devices.exitCode, 0);
        QVERIFY2(devices.out.contains("CUDA backends unavailable: " + gpuReason().toUtf8()), devices.out.constData());
        const Result selftest =
            runProgram(QStringLiteral("shard-engine"), {QStringLiteral("selftest"), QStringLiteral("--json")});
        QCOMPARE(selftest.exitCode, 77); // ctest's skip code
        QVERIFY(selftest.out.contains("\"skipped\":true"));
        const Result run = runProgram(QStringLiteral("shard-engine"),
                                      {QStringLiteral("run"),
                                       QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-dense-dgx-h100-tp8.shardplan.json"),
                                       QStringLiteral("--backend"), QStringLiteral("cuda-emulated")});
        QCOMPARE(run.exitCode, 1);
        const QJsonObject error = QJsonDocument::fromJson(run.out.trimmed()).object();
        QCOMPARE(error.value(QStringLiteral("event")).toString(), QStringLiteral("error"));
        QCOMPARE(error.value(QStringLiteral("message")).toString(),
                 QStringLiteral("the CUDA backend cannot run here: ") + gpuReason());
    }

    // What shardstudio-cli hands the engine: the checked run on standard input, read before
    // anything else, so a description it cannot read is named with or without a GPU.
    void engineReadsTheRunDescriptionOnStandardInput()
    {
        const QStringList args{QStringLiteral("run"), QStringLiteral("--description"), QStringLiteral("-")};
        const Result broken = runProgram(QStringLiteral("shard-engine"), args, QByteArrayLiteral("{\"format\": 1}"));
        QCOMPARE(broken.exitCode, 1);
        const QJsonObject refusal = QJsonDocument::fromJson(broken.out.trimmed()).object();
        QCOMPARE(refusal.value(QStringLiteral("message")).toString(),
                 QStringLiteral("standard input: field 'format' must be a string, got number 1"));

        run::RunRequest request;
        request.backend = "cuda-emulated";
        request.steps = 2;
        const run::RunDescription described =
            run::describe_run(examplePlan("tiny-dense-dgx-h100-tp8.shardplan.json"), request);
        const Result r = runProgram(QStringLiteral("shard-engine"), args,
                                    QByteArray::fromStdString(dump_json(run::run_description_to_json(described))));
        const QList<QByteArray> lines = r.out.trimmed().split('\n');
        if (!gpuReason().isEmpty()) {
            QCOMPARE(r.exitCode, 1);
            QCOMPARE(QJsonDocument::fromJson(lines.front()).object().value(QStringLiteral("message")).toString(),
                     QStringLiteral("the CUDA backend cannot run here: ") + gpuReason());
            return;
        }
        QCOMPARE(r.exitCode, 0);
        const QJsonObject start = QJsonDocument::fromJson(lines.front()).object();
        QCOMPARE(start.value(QStringLiteral("event")).toString(), QStringLiteral("start"));
        QCOMPARE(start.value(QStringLiteral("steps")).toInt(), 3); // the prefill and the two decode steps described
        QCOMPARE(start.value(QStringLiteral("backend")).toString(), QStringLiteral("cuda-emulated"));
    }

    void cliHandsCudaRunsToTheEngine()
    {
        const Result r =
            runProgram(QStringLiteral("shardstudio-cli"),
                       {QStringLiteral("--json"), QStringLiteral("run"),
                        QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-dense-dgx-h100-tp8.shardplan.json"),
                        QStringLiteral("--backend"), QStringLiteral("cuda-emulated"), QStringLiteral("--dtype"),
                        QStringLiteral("fp32"), QStringLiteral("--steps"), QStringLiteral("4")});
        if (!gpuReason().isEmpty()) {
            QCOMPARE(r.exitCode, 1);
            QVERIFY2(r.err.contains("the CUDA backend cannot run here: " + gpuReason().toUtf8()), r.err.constData());
            return;
        }
        QCOMPARE(r.exitCode, 0);
        const QList<QByteArray> lines = r.out.trimmed().split('\n');
        const QJsonObject last = QJsonDocument::fromJson(lines.last()).object();
        QCOMPARE(last.value(QStringLiteral("event")).toString(), QStringLiteral("result"));
        QCOMPARE(last.value(QStringLiteral("network")).toString(), QStringLiteral("modeled"));
        QVERIFY(last.value(QStringLiteral("tokens_match")).toBool());
        QVERIFY(last.value(QStringLiteral("max_rel_error")).toDouble() < 1e-5);
        const Result history =
            runProgram(QStringLiteral("shardstudio-cli"), {QStringLiteral("history"), QStringLiteral("list")});
        QVERIFY2(history.out.contains("cuda-emulated"), history.out.constData());
    }

    // A layout the engine refuses is refused by the CLI before any engine process starts,
    // with the engine's reason, on machines with and without a GPU alike.
    void cliRefusesLayoutsTheEngineCannotRun()
    {
        const Result r =
            runProgram(QStringLiteral("shardstudio-cli"),
                       {QStringLiteral("--json"), QStringLiteral("run"), refusedPlanFile(), QStringLiteral("--backend"),
                        QStringLiteral("cuda-emulated"), QStringLiteral("--no-store")});
        QCOMPARE(r.exitCode, 1);
        const QJsonObject error = QJsonDocument::fromJson(r.out.trimmed()).object();
        QCOMPARE(
            error.value(QStringLiteral("message")).toString(),
            QStringLiteral("backend 'cuda-emulated' cannot run this plan: top-9 routing is above the engine's top-8"));
    }

    void gpuSelftestMatchesTheCpuReference()
    {
        if (!gpuReason().isEmpty())
            QSKIP(qPrintable(QStringLiteral("no usable GPU: ") + gpuReason()));
        const auto info = cuda::backend_info();
        for (const auto& c : cuda::selftest_cases({cuda::GpuDType::F32, cuda::GpuDType::BF16}, info.device_count)) {
            const auto r = cuda::run_selftest_case(
                c, [](const Plan& p, const run::ModelWeights& w) { return cpu::run_reference(p, w); });
            QVERIFY2(r.passed, (c.name + ": " + r.error + " " + r.detail).c_str());
        }
    }

    void routingRefusesATopKItCannotHold()
    {
        // Checked on the host before any launch, so it holds without a GPU too.
        QVERIFY_THROWS_EXCEPTION(
            std::invalid_argument,
            cuda::kernels::route_top_k(nullptr, 4, 64, cuda::kernels::kMaxTopK + 1, nullptr, nullptr, nullptr));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 cuda::kernels::route_top_k(nullptr, 4, 2, 3, nullptr, nullptr, nullptr));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 cuda::kernels::route_top_k(nullptr, 4, 8, 0, nullptr, nullptr, nullptr));
        // The cases cover every dtype and the top-k of Mixtral (2), DeepSeek (6) and Qwen3 (8).
        std::set<int> ks;
        std::set<std::string> dtypes;
        for (const auto& c : cuda::moe_kernel_cases()) {
            ks.insert(c.k);
            dtypes.insert(to_string(c.dtype));
            QVERIFY(c.k <= cuda::kernels::kMaxTopK && c.k <= c.experts);
        }
        QCOMPARE(ks, (std::set<int>{2, 6, 8}));
        QCOMPARE(dtypes.size(), std::size_t(3));
    }

    void moeKernelsMatchTheReference()
    {
        if (!gpuReason().isEmpty())
            QSKIP(qPrintable(QStringLiteral("no usable GPU: ") + gpuReason()));
        for (const auto& c : cuda::moe_kernel_cases()) {
            const auto r = cuda::run_moe_kernel_case(c);
            QVERIFY2(r.passed, (c.name + ": " + r.failure).c_str());
        }
    }

    void collectiveCasesCoverEveryKind()
    {
        std::set<std::string> ops;
        for (const auto& c : cuda::collective_cases(1)) {
            ops.insert(c.op);
            QVERIFY(c.emulated); // one GPU: emulation only
        }
        QCOMPARE(ops, (std::set<std::string>{"all_gather", "all_reduce", "all_to_all", "broadcast", "reduce_scatter"}));
        QCOMPARE(int(cuda::collective_cases(1).size()), 3 * 5 * 3);
        int nccl = 0;
        for (const auto& c : cuda::collective_cases(4))
            nccl += c.emulated ? 0 : 1;
        QCOMPARE(nccl, 5 * 3);
    }

    void collectivesMatchTheHost()
    {
        if (!gpuReason().isEmpty())
            QSKIP(qPrintable(QStringLiteral("no usable GPU: ") + gpuReason()));
        for (const auto& c : cuda::collective_cases(cuda::backend_info().device_count)) {
            const auto r = cuda::run_collective_case(c);
            QVERIFY2(r.passed, (c.name + ": " + r.failure).c_str());
        }
    }

    void outOfMemoryNamesTheRankAndTheBytes()
    {
        if (!gpuReason().isEmpty())
            QSKIP(qPrintable(QStringLiteral("no usable GPU: ") + gpuReason()));
        const Plan plan = examplePlan("tiny-dense-dgx-h100-tp8.shardplan.json");
        const run::ModelWeights weights(plan.model, 1);
        cuda::GpuModelOptions options;
        options.batch = 4096;
        options.max_rows = 4096;
        options.max_context = 1 << 20; // a KV cache of terabytes
        const QString message = errorOf([&] { cuda::GpuModel model(weights, plan, options); });
        QVERIFY2(message.startsWith(QStringLiteral("out of GPU memory: rank 0 (workspace and KV cache) asked for ")),
                 qPrintable(message));
    }
};

QTEST_GUILESS_MAIN(TestCudaEngine)
#include "tst_cuda_engine.moc"
