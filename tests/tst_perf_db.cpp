// The measured performance database: reading the curve tables (errors name file, line and
// column), exact answers on measured points, interpolation in GEMM tile waves, utilization
// held past the tables' edges, neighbouring shapes and group sizes, and the shipped tables.
#include "perfdb_cell.h"

#include "cost/perf_db.h"

#include "core/gpu_catalog.h"
#include "core/presets.h"
#include "cost/estimate.h"

#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace shard;

namespace {

// A GPU fast enough that the speed of light never clamps the synthetic tables' times.
GpuKind fastGpu()
{
    return {"test GPU", 80LL << 30, 1e6, 1e6, 132};
}

CurveTable gemmTable()
{
    // A staircase that steps past every multiple of 128 rows (m=100 not measured).
    return parse_curve_table("gemm_dtype,n,k,m=1,m=64,m=100,m=128,m=129,m=192,m=256,m=257,m=384,m=385,m=640\n"
                             "bfloat16,1024,1024,0.008,0.010,,0.010,0.020,0.020,0.020,0.030,0.030,0.040,0.050\n"
                             "fp8,1024,1024,0.004,0.005,,0.005,0.010,0.010,0.010,0.015,0.015,0.020,0.025\n",
                             "gemm.csv", 3);
}

CurveTable ncclTable()
{
    return parse_curve_table("op_name,nccl_dtype,num_gpus,message_size=256,message_size=512,message_size=1024\n"
                             "all_reduce,half,2,0.010,0.012,0.016\n"
                             "all_reduce,half,4,0.020,0.024,0.032\n"
                             "all_reduce,half,8,0.030,0.036,0.048\n"
                             "all_gather,int8,8,0.011,0.013,\n",
                             "nccl.csv", 3);
}

Strategy megatron(int tp)
{
    Strategy s;
    s.tensor_mode = TensorMode::Megatron1D;
    s.tensor_shape = {tp};
    return s;
}

QString errorOf(const std::function<void()>& f)
{
    try {
        f();
    } catch (const PerfTableError& e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

} // namespace

class TestPerfDb : public QObject {
    Q_OBJECT

private slots:
    void malformedTablesNameFileLineAndColumn()
    {
        QCOMPARE(errorOf([] { parse_curve_table("a,b,k,m=1\nx,1,2,0.1,0.2\n", "gemm.csv", 3); }),
                 QStringLiteral("gemm.csv line 2: 5 cells where the header has 4"));
        QCOMPARE(errorOf([] { parse_curve_table("a,b,k,m=1,m=2\nx,1,2,0.1,fast\n", "gemm.csv", 3); }),
                 QStringLiteral("gemm.csv line 2: column m=2 is not a number: 'fast'"));
        QCOMPARE(errorOf([] { parse_curve_table("a,b,k,m=2,m=1\n", "gemm.csv", 3); }),
                 QStringLiteral("gemm.csv line 1: curve column m=1 is not in ascending order"));
        QCOMPARE(errorOf([] { parse_curve_table("a,b,k,m=1\nx,1,2,-0.1\n", "g.csv", 3); }),
                 QStringLiteral("g.csv line 2: a latency must be positive, got -0.1"));
        QCOMPARE(errorOf([] { parse_curve_table("", "g.csv", 3); }),
                 QStringLiteral("g.csv line 1: the table is empty"));
        // The right shape of table, the wrong columns.
        QCOMPARE(errorOf([] { PerfDb(fastGpu(), ncclTable(), ncclTable()); }),
                 QStringLiteral("nccl.csv line 1: expected the columns gemm_dtype,n,k,m=..."));
        QCOMPARE(errorOf([] {
                     PerfDb(fastGpu(), parse_curve_table("gemm_dtype,n,k,m=1\nbfloat16,wide,2,0.1\n", "gemm.csv", 3),
                            ncclTable());
                 }),
                 QStringLiteral("gemm.csv line 2: n must be a non-negative integer, got 'wide'"));
        const QString missing = errorOf([] { PerfDb::load("/nonexistent/perfdb/x", fastGpu()); });
        QCOMPARE(missing, QStringLiteral("cannot read the measured table /nonexistent/perfdb/x/gemm.csv"));
    }

    void gemmAnswersMeasuredPointsExactlyAndStepsByWaves()
    {
        const PerfDb db(fastGpu(), gemmTable(), ncclTable());
        auto at = [&](std::int64_t m) { return *db.gemm(std::string("bfloat16"), m, 1024, 1024); };
        // The table steps at 128 rows, and the fit on load finds it.
        QCOMPARE(db.row_wave("bfloat16").value_or(-1), 128.0);
        QCOMPARE(at(128).us, 10.0);
        QCOMPARE(at(128).source, Provenance::Measured);
        QCOMPARE(at(129).us, 20.0);
        // Inside one wave: linear in rows.
        QCOMPARE(at(32).us, 8.0 + 2.0 * 31.0 / 63.0);
        QCOMPARE(at(32).source, Provenance::Interpolated);
        QCOMPARE(at(100).us, 10.0);
        // Across waves (385 is wave 4, 640 wave 5): the time follows the wave, not the row;
        // a line from 385 to 640 would give 43.9 us at 500.
        QCOMPARE(at(500).us, 40.0);
        QCOMPARE(at(600).us, 50.0);
        // fp8 is its own table.
        QCOMPARE(db.gemm(DType::FP8, 128, 1024, 1024)->us, 5.0);
        QCOMPARE(db.gemm(DType::BF16, 128, 1024, 1024)->us, 10.0);
        QVERIFY(!db.gemm(DType::FP32, 128, 1024, 1024));
        QVERIFY(!db.gemm(std::string("nvfp4"), 128, 1024, 1024));
        QCOMPARE(db.gemm_modes(), (std::vector<std::string>{"bfloat16", "fp8"}));
    }

    void gemmPastTheEdgeHoldsTheEdgesUtilization()
    {
        const PerfDb db(fastGpu(), gemmTable(), ncclTable());
        const OpTime t = *db.gemm(std::string("bfloat16"), 4096, 1024, 1024);
        QCOMPARE(t.source, Provenance::Extrapolated);
        const double scale = db.gemm_speed_of_light_us("bfloat16", 4096, 1024, 1024)
                             / db.gemm_speed_of_light_us("bfloat16", 640, 1024, 1024);
        QCOMPARE(t.us, 50.0 * scale);
        QVERIFY(scale > 1);
    }

    void anUnmeasuredShapeBorrowsItsNeighboursUtilization()
    {
        const PerfDb db(fastGpu(), gemmTable(), ncclTable());
        // One octave from the only measured shape: its utilization at the same rows.
        const OpTime t = *db.gemm(std::string("bfloat16"), 128, 2048, 1024);
        QCOMPARE(t.source, Provenance::Interpolated);
        const double utilization = db.gemm_speed_of_light_us("bfloat16", 128, 1024, 1024) / 10.0;
        QCOMPARE(t.us, db.gemm_speed_of_light_us("bfloat16", 128, 2048, 1024) / utilization);
        // More than two octaves away: nothing measured to borrow from, the roofline's turn.
        QVERIFY(!db.gemm(std::string("bfloat16"), 128, 8192, 1024));
    }

    void collectivesByGroupAndSize()
    {
        const PerfDb db(fastGpu(), gemmTable(), ncclTable());
        // Payload in bytes; the half tables count 2-byte elements.
        const OpTime measured = *db.collective(CollectiveKind::AllReduce, 1024, 4, 2);
        QCOMPARE(measured.us, 24.0);
        QCOMPARE(measured.source, Provenance::Measured);
        QCOMPARE(db.collective(CollectiveKind::AllReduce, 1536, 8, 2)->us, 42.0); // 768 elements
        QCOMPARE(db.collective(CollectiveKind::AllReduce, 1536, 8, 2)->source, Provenance::Interpolated);
        // Below the smallest message: the latency floor; above the largest: its bandwidth.
        QCOMPARE(db.collective(CollectiveKind::AllReduce, 64, 2, 2)->us, 10.0);
        QCOMPARE(db.collective(CollectiveKind::AllReduce, 64, 2, 2)->source, Provenance::Extrapolated);
        QCOMPARE(db.collective(CollectiveKind::AllReduce, 8192, 2, 2)->us, 16.0 * 4);
        // A group between measured ones: linear in the group size.
        QCOMPARE(db.collective(CollectiveKind::AllReduce, 512, 6, 2)->us, 25.0);
        // More ranks than measured: the largest group's time with the ring's (n-1)/n share.
        QCOMPARE(db.collective(CollectiveKind::AllReduce, 512, 16, 2)->us, 30.0 * (15.0 / 16.0) * (8.0 / 7.0));
        QCOMPARE(db.collective(CollectiveKind::AllReduce, 512, 16, 2)->source, Provenance::Extrapolated);
        // int8 traffic has its own table; a missing cell is not a zero.
        QCOMPARE(db.collective(CollectiveKind::AllGather, 512, 8, 1)->us, 13.0);
        QCOMPARE(db.collective(CollectiveKind::AllGather, 1024, 8, 1)->source, Provenance::Extrapolated);
        QVERIFY(!db.collective(CollectiveKind::AllGather, 512, 8, 2));
        QVERIFY(!db.collective(CollectiveKind::Broadcast, 512, 8, 2));
        QVERIFY(!db.collective(CollectiveKind::AllReduce, 512, 1, 2));
    }

    void attentionInterpolatesAlongContextAndBatch()
    {
        const std::string head = "kernel_source,attn_dtype,kv_cache_dtype,head_dim,window_size,num_heads,"
                                 "num_key_value_heads,batch_size,";
        const CurveTable decode = parse_curve_table(head
                                                        + "step=1,step=3,step=7\n"
                                                          "torch_flow,bfloat16,bfloat16,128,0,8,1,1,0.010,0.012,0.020\n"
                                                          "torch_flow,bfloat16,bfloat16,128,0,8,1,4,0.020,0.030,0.060\n"
                                                          "torch_flow,bfloat16,bfloat16,128,128,8,1,1,1,1,1\n",
                                                    "attention_generation.csv", 8);
        const CurveTable prefill = parse_curve_table(head
                                                         + "isl=16,isl=32\n"
                                                           "torch_flow,bfloat16,bfloat16,128,0,8,1,1,0.004,0.016\n",
                                                     "attention_context.csv", 8);
        PerfDb db(fastGpu(), gemmTable(), ncclTable());
        db.set_attention(prefill, decode);
        auto at = [&](std::int64_t batch, std::int64_t context) {
            return *db.attention(true, DType::BF16, 128, 8, 1, batch, context);
        };
        // step=3 holds 3 cached tokens: the new one attends over 4.
        QCOMPARE(at(1, 4).us, 12.0);
        QCOMPARE(at(1, 4).source, Provenance::Measured);
        QCOMPARE(at(1, 6).us, 16.0); // halfway from 4 to 8 tokens
        QCOMPARE(at(2, 4).us, 12.0 + (30.0 - 12.0) / 3.0); // a third of the way from batch 1 to 4
        QCOMPARE(at(2, 4).source, Provenance::Interpolated);
        QCOMPARE(at(1, 16).us, 40.0); // past the measured context: linear in the cache read
        QCOMPARE(at(1, 16).source, Provenance::Extrapolated);
        QCOMPARE(at(8, 8).us, 120.0); // past the largest batch: linear in sequences
        // Prefill blends sqrt(time): 4 us at 16 tokens, 16 us at 32; at 24, (2 + 1)^2.
        QCOMPARE(db.attention(false, DType::BF16, 128, 8, 1, 1, 24)->us, 9.0);
        QCOMPARE(db.attention(false, DType::BF16, 128, 8, 1, 1, 64)->us, 64.0); // squares past the edge
        // Shapes without a curve (another head count, fp8 cache, a sliding window): the roofline's.
        QVERIFY(!db.attention(true, DType::BF16, 128, 16, 1, 1, 4));
        QVERIFY(!db.attention(true, DType::FP8, 128, 8, 1, 1, 4));
    }

    void moeTableBySplitAndTokens()
    {
        const std::string head = "kernel_source,moe_dtype,distribution,hidden_size,inter_size,topk,num_experts,"
                                 "moe_tp_size,moe_ep_size,num_tokens=1,num_tokens=4,num_tokens=16\n";
        const CurveTable moe = parse_curve_table(head
                                                     + "moe_torch_flow_cutlass,bfloat16,balanced,64,32,2,8,1,2,"
                                                       "0.010,0.020,0.080\n"
                                                       "moe_torch_flow_nongated,bfloat16,balanced,64,32,2,8,1,2,"
                                                       "0.005,0.010,0.040\n"
                                                       "moe_torch_flow_min_latency,fp8,balanced,64,32,2,8,1,2,"
                                                       "1,1,1\n"
                                                       "moe_torch_flow_cutlass,fp8_block,balanced,64,32,2,8,1,2,"
                                                       "0.004,0.008,0.030\n",
                                                 "moe.csv", 9);
        PerfDb db(fastGpu(), gemmTable(), ncclTable());
        db.set_moe(moe);
        MoeTable::Shape shape{64, 32, 2, 8, 1, 2, true};
        QCOMPARE(db.moe(DType::BF16, shape, 4)->us, 20.0);
        QCOMPARE(db.moe(DType::BF16, shape, 4)->source, Provenance::Measured);
        QCOMPARE(db.moe(DType::BF16, shape, 10)->us, 50.0); // halfway from 4 to 16 tokens
        QCOMPARE(db.moe(DType::BF16, shape, 10)->source, Provenance::Interpolated);
        QCOMPARE(db.moe(DType::BF16, shape, 32)->us, 160.0); // past the edge: per-token time held
        QCOMPARE(db.moe(DType::BF16, shape, 32)->source, Provenance::Extrapolated);
        // fp8 was measured only block-scaled (the low-latency rows are not a whole layer).
        QCOMPARE(db.moe(DType::FP8, shape, 16)->us, 30.0);
        QCOMPARE(db.moe(DType::FP8, shape, 16)->source, Provenance::Interpolated);
        shape.gated = false;
        QCOMPARE(db.moe(DType::BF16, shape, 16)->us, 40.0);
        shape.ep = 4; // a split that was not measured: the roofline's
        QVERIFY(!db.moe(DType::BF16, shape, 16));
        QVERIFY(
            errorOf([] {
                MoeTable(parse_curve_table("kernel_source,moe_dtype,num_tokens=1\nx,y,1\n", "moe.csv", 2));
            }).contains(QStringLiteral("moe.csv line 1: expected the columns kernel_source,moe_dtype,distribution")));
    }

    void mlaTableKeepsTheFirstOfARepeatedHeadCount()
    {
        const std::string head = "mla_dtype,kv_cache_dtype,num_heads,tp_size,batch_size,";
        const CurveTable decode = parse_curve_table(head
                                                        + "step=1,step=3\n"
                                                          "bfloat16,bfloat16,16,4,1,0.010,0.014\n"
                                                          "bfloat16,bfloat16,16,8,1,0.050,0.050\n"
                                                          "bfloat16,fp8,16,4,1,0.008,0.010\n",
                                                    "mla_generation.csv", 5);
        const CurveTable prefill =
            parse_curve_table(head + "isl=16\nbfloat16,bfloat16,16,4,1,0.020\n", "mla_context.csv", 5);
        PerfDb db(fastGpu(), gemmTable(), ncclTable());
        db.set_mla(prefill, decode);
        QCOMPARE(db.mla_attention(true, DType::BF16, 16, 1, 2)->us, 10.0); // step=1: attends over 2
        QCOMPARE(db.mla_attention(true, DType::BF16, 16, 1, 3)->us, 12.0);
        QCOMPARE(db.mla_attention(true, DType::FP8, 16, 1, 4)->us, 10.0);
        QCOMPARE(db.mla_attention(false, DType::BF16, 16, 1, 16)->us, 20.0);
        QVERIFY(!db.mla_attention(true, DType::BF16, 32, 1, 2)); // heads never measured
        // Standard attention and MLA do not answer for each other.
        QVERIFY(!db.attention(true, DType::BF16, 128, 16, 1, 1, 2));
    }

    void estimatesPriceMoeLayersAndMlaFromTheTables()
    {
        // Mixtral-8x7B over TP8 on a DGX H100: every expert is split 8 ways (expert TP 8, EP 1)
        // and the fused layer runs all the batch's tokens.
        const ModelSpec mixtral = PresetLibrary::instance().model("mixtral-8x7b");
        const Topology dgx = PresetLibrary::instance().topology("dgx-h100");
        const Workload w;
        const Estimate e = estimate(mixtral, megatron(8), dgx, w);
        QVERIFY(e.feasible);
        for (const auto& [phase, tokens] : {std::pair{&e.prefill, w.batch * w.prompt}, std::pair{&e.decode, w.batch}}) {
            const BlockCost* layer = phase->block("moe layer");
            QVERIFY(layer);
            double fused = 0;
            int ops = 0;
            for (const OpCost& op : layer->ops)
                if (op.name == "experts.up" || op.name == "experts.act" || op.name == "experts.down"
                    || op.name == "experts.weighted_sum") {
                    fused += op.time_us;
                    QCOMPARE(op.source, Provenance::Measured);
                    ++ops;
                }
            QCOMPARE(ops, 4);
            const double cell = test::shipped_cell_ms(
                "h100_sxm", "moe.csv",
                {"moe_torch_flow_cutlass", "bfloat16", "balanced", "4096", "14336", "2", "8", "8", "1"},
                double(tokens));
            QVERIFY(cell > 0);
            QCOMPARE(fused, cell * 1000.0);
        }
        // DeepSeek-V3 (its latent geometry was measured): 16 of the 128 heads per GPU on TP8.
        const ModelSpec deepseek = PresetLibrary::instance().model("deepseek-v3");
        const Topology h200 = PresetLibrary::instance().topology("8x-h200");
        Workload fp8;
        fp8.dtype = fp8.kv_dtype = DType::FP8;
        const Estimate d = estimate(deepseek, megatron(8), h200, fp8);
        QVERIFY(d.feasible);
        const BlockCost* layer = d.decode.block("moe layer");
        QVERIFY(layer);
        const PerfDb* db = PerfDb::shipped(h200.gpu);
        for (const OpCost& op : layer->ops)
            if (op.kind == OpKind::Attention) {
                const OpTime t = *db->mla_attention(true, DType::FP8, 16, fp8.batch, fp8.prompt + fp8.generate / 2);
                QCOMPARE(op.time_us, t.us);
                QCOMPARE(op.source, t.source);
            }
    }

    void shippedTablesCoverTheCatalogsDatacenterGpus()
    {
        for (const auto& [name, system] :
             {std::pair{"H100 SXM 80GB", "h100_sxm"}, std::pair{"H200 SXM 141GB", "h200_sxm"},
              std::pair{"B200", "b200_sxm"}, std::pair{"GB200", "gb200"}, std::pair{"A100 SXM 80GB", "a100_sxm"},
              std::pair{"L40S", "l40s"}}) {
            const auto entry = find_gpu_kind(name);
            QVERIFY2(entry, name);
            QCOMPARE(PerfDb::system_for(entry->gpu).value_or(""), std::string(system));
            const auto db = PerfDb::shipped(entry->gpu);
            QVERIFY2(db && !db->gemm_modes().empty(), name);
        }
        QVERIFY(!PerfDb::system_for(find_gpu_kind("L4")->gpu));
        // H100, 8 GPUs, all-reduce of 64 Mi fp16 elements: the table's own measurement.
        const auto h100 = PerfDb::shipped(find_gpu_kind("H100 SXM 80GB")->gpu);
        const OpTime ar = *h100->collective(CollectiveKind::AllReduce, 2LL * 64 * 1024 * 1024, 8, 2);
        const double cell = test::shipped_cell_ms("h100_sxm", "nccl.csv", {"all_reduce", "half", "8"}, 67108864);
        QVERIFY(cell > 0);
        QCOMPARE(ar.us, cell * 1000.0);
        QCOMPARE(ar.source, Provenance::Measured);
        // A small all-reduce costs NCCL's floor of tens of microseconds, not the roofline's 8.
        const OpTime small = *h100->collective(CollectiveKind::AllReduce, 64 * 1024, 8, 2);
        QVERIFY2(small.us > 10 && small.us < 60, qPrintable(QString::number(small.us)));
    }

    void estimatesPriceGemmsAndInNodeCollectivesFromTheTables()
    {
        const ModelSpec model = PresetLibrary::instance().model("llama-3.1-70b");
        const Topology topology = PresetLibrary::instance().topology("dgx-h100");
        const Strategy tp8 = megatron(8);
        const Workload w;
        const Estimate e = estimate(model, tp8, topology, w);
        QVERIFY(e.feasible);
        const PerfDb* db = PerfDb::shipped(topology.gpu);
        QVERIFY(db);
        QCOMPARE(PerfDb::shipped(topology.gpu), db); // loaded once
        const BlockCost* layer = e.decode.block("dense layer");
        QVERIFY(layer);
        int gemms = 0;
        for (const OpCost& op : layer->ops) {
            if (op.kind == OpKind::Attention) {
                // 8 of the 64 heads and 1 of the 8 KV heads per GPU, the batch, the
                // decode's average context (prompt + half the generated tokens).
                const OpTime t = *db->attention(true, w.kv_dtype, 128, 8, 1, w.batch, w.prompt + w.generate / 2);
                QCOMPARE(op.time_us, t.us);
                QCOMPARE(op.source, t.source);
                QVERIFY(op.source != Provenance::Roofline);
                continue;
            }
            if (op.m == 0) {
                QCOMPARE(op.source, Provenance::Roofline); // norms and elementwise ops: no table
                continue;
            }
            const OpTime t = *db->gemm(w.dtype, op.m, op.n, op.k);
            QCOMPARE(op.time_us, t.us * op.repeat);
            QCOMPARE(op.source, t.source);
            QVERIFY(op.source != Provenance::Roofline);
            ++gemms;
        }
        QCOMPARE(gemms, 4); // qkv, o_proj, gate_up, down
        int allReduces = 0;
        for (const CollectiveCost& c : layer->collectives) {
            QVERIFY(!c.cross_node);
            const OpTime t = *db->collective(c.op, c.payload, c.group, 2);
            QCOMPARE(c.time_us, c.calls * t.us);
            QCOMPARE(c.source, t.source);
            allReduces += c.op == CollectiveKind::AllReduce ? 1 : 0;
        }
        QVERIFY(allReduces >= 2);
        // NCCL's floor, not the roofline's 8 us latency: the decode all-reduces cost more.
        Efficiency roofline;
        roofline.measured_tables = false;
        const Estimate r = estimate(model, tp8, topology, w, roofline);
        QVERIFY(e.decode.comm_ms > r.decode.comm_ms);
        for (const auto& block : r.decode.blocks) {
            for (const auto& op : block.ops)
                QCOMPARE(op.source, Provenance::Roofline);
            for (const auto& c : block.collectives)
                QCOMPARE(c.source, Provenance::Roofline);
        }
        QCOMPARE(r.decode.measured_share, 0.0);
        QVERIFY(e.decode.measured_share > 0.5 && e.decode.measured_share <= 1.0);
        // Memory and bytes do not depend on where times come from.
        QCOMPARE(e.memory.total(), r.memory.total());
        QCOMPARE(e.decode.traffic_per_device, r.decode.traffic_per_device);
    }

    void crossNodeCollectivesAndUntabledGpusStayOnTheRoofline()
    {
        const ModelSpec model = PresetLibrary::instance().model("llama-3.1-70b");
        const Strategy tp16 = megatron(16);
        const Estimate two = estimate(model, tp16, PresetLibrary::instance().topology("2x-dgx-h100"), Workload{});
        bool crossed = false;
        for (const auto& c : two.decode.block("dense layer")->collectives)
            if (c.cross_node) {
                crossed = true;
                QCOMPARE(c.source, Provenance::Roofline);
            }
        QVERIFY(crossed);
        // A GPU kind without tables: every op from the roofline, and the sentence says so.
        Topology l4 = PresetLibrary::instance().topology("dgx-h100");
        l4.gpu = find_gpu_kind("L4")->gpu;
        const Strategy tp8 = megatron(8);
        const Estimate e = estimate(PresetLibrary::instance().model("llama-3.1-8b"), tp8, l4, Workload{});
        QCOMPARE(e.decode.measured_share, 0.0);
        QCOMPARE(prediction_source(l4.gpu), std::string("every op from the roofline: no measured tables for L4"));
    }
};

QTEST_GUILESS_MAIN(TestPerfDb)
#include "tst_perf_db.moc"
