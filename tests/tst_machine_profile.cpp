// A profile of this machine's GPUs as a prediction source: which shipped rows it replaces,
// which it leaves, how the planner picks it (never one measured on the host model of CUDA)
// and how every prediction says so.
#include "store/prediction_tables.h"
#include "store/profile_store.h"

#include "core/gpu_catalog.h"
#include "core/presets.h"
#include "cost/estimate.h"
#include "cost/machine_profile.h"
#include "cost/perf_db.h"

#include "cli_runner.h"
#include "test_support.h"

#include <QtTest>

#include <QJsonArray>
#include <QJsonObject>

using namespace shard;
using shard::test::errorOf;

namespace {

GpuKind h200()
{
    return find_gpu_kind("NVIDIA H200")->gpu;
}

// Times far from any H200's, so a number from the profile cannot pass for a shipped one.
MachineProfile madeUpProfile(bool host_model = false)
{
    MachineProfile p;
    p.created_at = "2026-12-03T10:15:00Z";
    p.gpu_kind = h200().name;
    p.gpu_name = "NVIDIA H200";
    p.devices = 2;
    p.host_model = host_model;
    p.tables["gemm"] = "gemm_dtype,n,k,m=1,m=8,m=16\nbfloat16,4096,4096,0.5,0.6,0.7\n";
    p.tables["nccl"] = "op_name,nccl_dtype,num_gpus,message_size=1024\nall_reduce,half,2,0.1\n";
    const std::string keys = "kernel_source,attn_dtype,kv_cache_dtype,head_dim,window_size,num_heads,"
                             "num_key_value_heads,batch_size,";
    p.tables["attention_generation"] = keys + "step=127\nshard_engine,bfloat16,bfloat16,128,0,8,1,1,0.05\n";
    p.tables["attention_context"] = keys + "isl=128\nshard_engine,bfloat16,bfloat16,128,0,8,1,1,0.08\n";
    return p;
}

test::CliResult cli(std::initializer_list<const char*> arguments)
{
    QStringList list;
    for (const char* a : arguments)
        list << QString::fromUtf8(a);
    return test::runCli(list);
}

} // namespace

class TestMachineProfile : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::string path(const char* name) const { return m_dir.filePath(QString::fromLatin1(name)).toStdString(); }

private slots:
    void aProfileReplacesTheFamiliesItMeasuredOnly()
    {
        const PerfDb db = perf_db_with_profile(h200(), madeUpProfile());
        const PerfDb& shipped = *PerfDb::shipped(h200());
        // bf16 GEMMs are the profile's alone: its cell, and its utilization for other shapes.
        const auto cell = db.gemm("bfloat16", 8, 4096, 4096);
        QCOMPARE(cell->us, 600.0);
        QCOMPARE(cell->source, Provenance::Measured);
        const auto near = db.gemm("bfloat16", 8, 8192, 8192);
        const double expected = db.gemm_speed_of_light_us("bfloat16", 8, 8192, 8192) * 600.0
                                / db.gemm_speed_of_light_us("bfloat16", 8, 4096, 4096);
        QVERIFY(std::abs(near->us - expected) < 1e-9 * expected);
        QVERIFY(!db.gemm("bfloat16", 8, 65536, 65536).has_value()); // beyond its sites: the roofline's
        // The modes it did not measure stay the shipped tables'.
        QCOMPARE(db.gemm("fp8", 8, 4096, 4096)->us, shipped.gemm("fp8", 8, 4096, 4096)->us);
        // A collective is replaced per kind and group size.
        const auto two = db.collective(CollectiveKind::AllReduce, 2048, 2, 2);
        QCOMPARE(two->us, 100.0);
        QCOMPARE(two->source, Provenance::Measured);
        QCOMPARE(db.collective(CollectiveKind::AllReduce, 2048, 8, 2)->us,
                 shipped.collective(CollectiveKind::AllReduce, 2048, 8, 2)->us);
        QCOMPARE(db.collective(CollectiveKind::AllGather, 2048, 2, 2)->us, // a collective it did not measure
                 shipped.collective(CollectiveKind::AllGather, 2048, 2, 2)->us);
        // Attention per shape: the engine's kernel where it measured, the shipped rows elsewhere.
        QCOMPARE(db.attention(true, DType::BF16, 128, 8, 1, 1, 128)->us, 50.0);
        QCOMPARE(db.attention(false, DType::BF16, 128, 8, 1, 1, 128)->us, 80.0);
        QCOMPARE(db.attention(true, DType::BF16, 128, 64, 8, 1, 128)->us,
                 shipped.attention(true, DType::BF16, 128, 64, 8, 1, 128)->us);
        QCOMPARE(QString::fromStdString(madeUpProfile().measured()),
                 QStringLiteral("GEMMs (bfloat16), attention (decode, prefill), NCCL (all_reduce on 2 GPUs)"));
    }

    void thePlannerPrefersThisMachinesProfileAndSaysSo()
    {
        const std::string db = path("preferred.db");
        {
            RunStore store(db);
            add_profile(store, madeUpProfile());
        }
        const Efficiency efficiency = prediction_efficiency(h200(), db);
        QVERIFY(efficiency.profile_tables != nullptr);
        QVERIFY(efficiency.calibration.empty());
        QCOMPARE(QString::fromStdString(prediction_source(h200(), efficiency)),
                 QStringLiteral("GEMMs (bfloat16), attention (decode, prefill), NCCL (all_reduce on 2 GPUs) calibrated "
                                "on this machine, 2026-12-03 (profile 1); the rest from measured H200 SXM 141GB tables "
                                "(NVIDIA AIConfigurator) and the roofline"));
        QCOMPARE(tables_for(h200(), efficiency), efficiency.profile_tables.get());
        // The same profile twice is the same tables, loaded once.
        QCOMPARE(prediction_efficiency(h200(), db).profile_tables.get(), efficiency.profile_tables.get());
        // Every estimate prices with it: a Llama-3.1-8B decode on one H200 differs from the
        // shipped tables' by the profile's bf16 GEMMs.
        const auto& presets = PresetLibrary::instance();
        const ModelSpec model = presets.model("llama-3.1-8b");
        Topology topology = presets.topology("8x-h200");
        Strategy single;
        Workload workload;
        workload.batch = 8;
        const Estimate local = estimate(model, single, topology, workload, efficiency);
        const Estimate shipped =
            estimate(model, single, topology, workload, prediction_efficiency(h200(), db, TableSource::Shipped));
        QVERIFY(local.feasible && shipped.feasible);
        QVERIFY2(local.tpot_ms > 2 * shipped.tpot_ms, qPrintable(QString::number(local.tpot_ms)));
        // The other choices.
        QVERIFY(!prediction_efficiency(h200(), db, TableSource::Shipped).profile_tables);
        QVERIFY(!prediction_efficiency(h200(), db, TableSource::Roofline).measured_tables);
        const GpuKind h100 = find_gpu_kind("NVIDIA H100 80GB HBM3")->gpu;
        QVERIFY(!prediction_efficiency(h100, db).profile_tables); // a profile is of one GPU kind
        QCOMPARE(
            errorOf([&] { prediction_efficiency(h100, db, TableSource::Profile); }),
            QString::fromStdString("no profile of H100 SXM 80GB GPUs in " + db
                                   + ": measure one with shard-engine profile on this machine, or predict from the "
                                     "shipped tables (--tables shipped)"));
        QCOMPARE(usable_profile(h200(), db)->label(), std::string("calibrated on this machine, 2026-12-03"));
    }

    void aHostModelProfileIsNeverUsed()
    {
        const std::string db = path("host.db");
        {
            RunStore store(db);
            add_profile(store, madeUpProfile(true));
        }
        QVERIFY(!prediction_efficiency(h200(), db).profile_tables);
        QVERIFY(!usable_profile(h200(), db).has_value());
        QVERIFY(errorOf([&] {
                    prediction_efficiency(h200(), db, TableSource::Profile);
                }).startsWith(QStringLiteral("no profile of")));
    }

    void theCliPricesWithTheProfileAndListsIt()
    {
        const QString data = test::scratchEnvironment().value(QStringLiteral("XDG_DATA_HOME"));
        {
            QDir().mkpath(data + QStringLiteral("/shardstudio"));
            RunStore store((data + QStringLiteral("/shardstudio/runs.db")).toStdString());
            add_profile(store, madeUpProfile());
            add_profile(store, madeUpProfile(true));
        }
        const auto local = cli({"--json", "op", "gemm", "8", "4096", "4096", "--gpu", "h200"});
        QCOMPARE(local.exitCode, 0);
        const QJsonObject op = test::jsonOf(local).object();
        QCOMPARE(op[QStringLiteral("us")].toDouble(), 600.0);
        QCOMPARE(op[QStringLiteral("source")].toString(), QStringLiteral("measured"));
        QVERIFY(op[QStringLiteral("tables")].toString().contains(
            QStringLiteral("calibrated on this machine, 2026-12-03 (profile 1)")));
        const auto shipped = cli({"--json", "op", "gemm", "8", "4096", "4096", "--gpu", "h200", "--tables", "shipped"});
        QCOMPARE(test::jsonOf(shipped).object()[QStringLiteral("us")].toDouble(),
                 PerfDb::shipped(h200())->gemm("bfloat16", 8, 4096, 4096)->us);

        const auto listed = cli({"history", "profiles"});
        QCOMPARE(listed.exitCode, 0);
        QVERIFY2(listed.out.contains("in use for H200 SXM 141GB"), listed.out.constData());
        QVERIFY(listed.out.contains("never (host model of CUDA: its times are not a GPU's)"));
        const QJsonArray rows =
            test::jsonOf(cli({"--json", "history", "profiles"})).object()[QStringLiteral("profiles")].toArray();
        QCOMPARE(rows.size(), 2);
        QCOMPARE(rows[0].toObject()[QStringLiteral("host_model")].toBool(), true); // the newest first
        QCOMPARE(rows[1].toObject()[QStringLiteral("in_use")].toBool(), true);

        const auto refused = cli({"plan", "-m", "llama-3.1-8b", "-t", "1x-h100", "--tables", "profile"});
        QVERIFY(refused.exitCode != 0);
        QVERIFY2(refused.err.contains("no profile of H100 SXM 80GB GPUs"), refused.err.constData());
        QCOMPARE(cli({"history", "delete-profile", "1"}).exitCode, 1); // asks for --yes
        QCOMPARE(cli({"history", "delete-profile", "1", "--yes"}).exitCode, 0);
        QCOMPARE(test::jsonOf(cli({"--json", "op", "gemm", "8", "4096", "4096", "--gpu", "h200"}))
                     .object()[QStringLiteral("us")]
                     .toDouble(),
                 PerfDb::shipped(h200())->gemm("bfloat16", 8, 4096, 4096)->us);
    }

    void tableSourcesParse()
    {
        for (const auto s : {TableSource::Auto, TableSource::Profile, TableSource::Shipped, TableSource::Roofline})
            QCOMPARE(parse_table_source(to_string(s)), s);
        QCOMPARE(errorOf([] { parse_table_source("local"); }),
                 QStringLiteral("the prediction tables are auto, profile, shipped or roofline, not 'local'"));
    }
};

QTEST_GUILESS_MAIN(TestMachineProfile)
#include "tst_machine_profile.moc"
