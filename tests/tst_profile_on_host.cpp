// `shard-engine profile`'s pipeline on the host model of CUDA: every family measured in the
// layout of the shipped tables, the progress it reports, cancelling, and a host-model
// profile stored but never predicted from. (The times are the host's, not a GPU's.)
#include "cuda/gpu_profile.h"

#include "core/gpu_catalog.h"
#include "cost/perf_tables.h"
#include "cpu/cpu_executor.h"
#include "store/prediction_tables.h"
#include "store/profile_store.h"

#include "test_support.h"

#include <QtTest>

#include <cmath>
#include <set>

using namespace shard;
using shard::test::errorOf;

namespace {

cuda::ProfileSweep tinySweep()
{
    cuda::ProfileSweep s;
    s.gemms = {{cuda::GpuDType::BF16, {1, 4, 16}, {64, 128}}, {cuda::GpuDType::F32, {1, 2}, {64}}};
    s.attention = {{16, 4, 2}};
    s.attention_batches = {1, 2};
    s.prefill_tokens = {8, 16};
    s.decode_cached = {7, 15};
    s.nccl_elements = {256, 1024};
    s.repetitions = 1;
    return s;
}

int measuredCells(const CurveTable& table)
{
    int n = 0;
    for (const auto& row : table.rows)
        for (const double ms : row.ms)
            n += std::isnan(ms) ? 0 : 1;
    return n;
}

} // namespace

class TestProfileOnHost : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

private slots:
    void everyFamilyInTheShippedLayout()
    {
        cuda::ProfileOptions options;
        options.sweep = tinySweep();
        options.devices = 4;
        std::set<std::string> families;
        cuda::ProfileProgress last;
        options.on_progress = [&](const cuda::ProfileProgress& p) {
            families.insert(p.family);
            QCOMPARE(p.done, last.done + 1);
            last = p;
        };
        const MachineProfile profile = cuda::run_profile(options);
        // 3 x 2 x 2 + 2 x 1 GEMMs, 2 batches x (2 + 2) attention points, 4 collectives x 2
        // sizes on 2, 3 and 4 GPUs.
        QCOMPARE(options.sweep.points(4), 14 + 8 + 24);
        QCOMPARE(last.done, 46);
        QCOMPARE(last.total, 46);
        const std::set<std::string> expected = {"gemm bfloat16",
                                                "gemm float32",
                                                "attention prefill",
                                                "attention decode",
                                                "nccl all_reduce on 2 GPUs",
                                                "nccl alltoall on 4 GPUs"};
        for (const auto& family : expected)
            QVERIFY2(families.count(family), family.c_str());

        const PerfTables tables = parse_perf_tables(profile.tables, "host profile");
        QCOMPARE(tables.size(), std::size_t(4));
        const CurveTable& gemm = tables.at("gemm");
        QCOMPARE(gemm.rows.size(), std::size_t(4 + 1));
        QCOMPARE(measuredCells(gemm), 14);
        QCOMPARE(gemm.axis_values, (std::vector<double>{1, 2, 4, 16}));
        QCOMPARE(gemm.rows.back().keys, (std::vector<std::string>{"float32", "64", "64"}));
        const CurveTable& nccl = tables.at("nccl");
        QCOMPARE(nccl.rows.size(), std::size_t(4 * 3));
        QCOMPARE(measuredCells(nccl), 24);
        std::set<std::string> ops;
        for (const auto& row : nccl.rows)
            ops.insert(row.keys[0] + "/" + row.keys[2]);
        QCOMPARE(ops.size(), std::size_t(12));
        QVERIFY(ops.count("reduce_scatter/3"));
        for (const char* phase : {"attention_context", "attention_generation"}) {
            const CurveTable& t = tables.at(phase);
            QCOMPARE(t.rows.size(), std::size_t(2));
            QCOMPARE(measuredCells(t), 4);
            QCOMPARE(t.rows[1].keys,
                     (std::vector<std::string>{kEngineKernelSource, "bfloat16", "bfloat16", "16", "0", "4", "2", "2"}));
        }
        QCOMPARE(QString::fromStdString(profile.notes.back()),
                 QStringLiteral("fp8 and quantized GEMMs, MoE and MLA: the engine has no such kernels (the shipped "
                                "tables stay their source)"));
        // The planner's loader takes it as it is: the engine's attention rows answer queries.
        MachineProfile named = profile;
        named.id = 7;
        const PerfDb db = perf_db_with_profile(find_gpu_kind("NVIDIA H200")->gpu, named);
        QVERIFY(db.attention(true, DType::BF16, 16, 4, 2, 2, 8).has_value());
        QVERIFY(db.gemm(DType::FP32, 4, 64, 64).has_value());
    }

    void oneGpuHasNoCollectivesToMeasure()
    {
        cuda::ProfileOptions options;
        options.sweep = tinySweep();
        options.sweep.attention.clear();
        options.devices = 1;
        const MachineProfile profile = cuda::run_profile(options);
        QCOMPARE(profile.tables.size(), std::size_t(1));
        QVERIFY(profile.tables.count("gemm"));
        QCOMPARE(
            QString::fromStdString(profile.notes.front()),
            QStringLiteral("collectives: one GPU here, nothing to measure (the shipped tables stay their source)"));
    }

    void cancelStopsBetweenPoints()
    {
        cuda::ProfileOptions options;
        options.sweep = tinySweep();
        options.devices = 2;
        std::atomic<bool> cancel{false};
        options.cancel = &cancel;
        int seen = 0;
        options.on_progress = [&](const cuda::ProfileProgress& p) {
            seen = p.done;
            if (p.done == 3)
                cancel.store(true);
        };
        QCOMPARE(errorOf([&] { cuda::run_profile(options); }), QStringLiteral("profile cancelled"));
        QCOMPARE(seen, 3);
    }

    void aHostModelProfileIsStoredButNeverPredictedFrom()
    {
        cuda::ProfileOptions options;
        options.sweep = tinySweep();
        options.devices = 2;
        MachineProfile profile = cuda::run_profile(options);
        profile.created_at = "2026-12-03T12:00:00Z";
        profile.gpu_kind = find_gpu_kind("NVIDIA H200")->gpu.name;
        profile.gpu_name = "host model of CUDA";
        profile.host_model = true;
        const std::string db = m_dir.filePath(QStringLiteral("runs.db")).toStdString();
        {
            RunStore store(db);
            profile.id = add_profile(store, profile);
            const auto back = get_profile(store, profile.id);
            QVERIFY(back && back->host_model);
            QCOMPARE(back->tables, profile.tables);
        }
        const GpuKind gpu = find_gpu_kind("NVIDIA H200")->gpu;
        QVERIFY(!prediction_efficiency(gpu, db).profile_tables);
        QVERIFY(!usable_profile(gpu, db));
    }
};

QTEST_GUILESS_MAIN(TestProfileOnHost)
#include "tst_profile_on_host.moc"
