// Timelines of one step: the planner's (a row per stage, the recipe's issue order, the
// pipeline schedule the estimate prices) and a stored run's (a row per rank, measured).
#include "cost/predicted_timeline.h"
#include "store/run_timeline.h"

#include "core/plan.h"
#include "core/presets.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

using namespace shard;

namespace {

Estimate estimateOf(const ModelSpec& m, const Strategy& s, const Topology& t, int batch, int prompt)
{
    Workload w;
    w.batch = batch;
    w.prompt = prompt;
    w.generate = 128;
    return estimate(m, s, t, w);
}

Strategy megatron(int tp, int pp = 1)
{
    Strategy s;
    s.tensor_mode = tp > 1 ? TensorMode::Megatron1D : TensorMode::None;
    s.tensor_shape = {tp};
    s.pp = pp;
    return s;
}

// Spans of one row, compute and communication only (hand-offs are drawn as thin strips that
// may sit under the receiver's compute), in start order.
std::vector<TimelineSpan> rowSpans(const StepTimeline& t, int row)
{
    std::vector<TimelineSpan> spans;
    for (const auto& s : t.spans)
        if (s.row == row && s.category != SpanCategory::StageHandoff)
            spans.push_back(s);
    std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) { return a.start_us < b.start_us; });
    return spans;
}

void ingest(RunStore& store, const char* json)
{
    store.ingest(Json::parse(json));
}

} // namespace

class TestTimeline : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    const PresetLibrary& presets() { return PresetLibrary::instance(); }

private slots:
    void tensorParallelDecodeIsOneRowThatAddsUpToTheStep()
    {
        const ModelSpec m = presets().model("llama-3.1-70b");
        const Topology t = presets().topology("dgx-h100");
        const Estimate e = estimateOf(m, megatron(8), t, 8, 2048);
        QVERIFY(e.feasible);
        const StepTimeline tl = predicted_timeline(e, m, megatron(8), true);
        QCOMPARE(tl.rows, std::vector<std::string>{"all 8 GPUs 0-7"});
        QVERIFY(!tl.measured);
        // Every op and collective of the step, once: embedding, 80 layers, the LM head.
        const auto* dense = e.decode.block("dense layer");
        const auto* embed = e.decode.block("embedding");
        const auto* head = e.decode.block("lm head");
        const std::size_t expected = embed->ops.size() + embed->collectives.size()
                                     + 80 * (dense->ops.size() + dense->collectives.size()) + head->ops.size()
                                     + head->collectives.size();
        QCOMPARE(tl.spans.size(), expected);
        // Back to back, no gaps, ending exactly at the predicted time per output token.
        const auto spans = rowSpans(tl, 0);
        for (std::size_t i = 1; i < spans.size(); ++i)
            QCOMPARE(spans[i].start_us, spans[i - 1].end_us());
        QVERIFY(qAbs(tl.end_us() - e.tpot_ms * 1000.0) < 1e-6 * tl.end_us());
        QCOMPARE(tl.period_us, e.tpot_ms * 1000.0);
        // Megatron: each layer's o_proj and down_proj all-reduces follow their GEMMs.
        int allreduces = 0;
        for (std::size_t i = 1; i < spans.size(); ++i)
            if (spans[i].category == SpanCategory::Communication && spans[i].layer >= 0) {
                QCOMPARE(spans[i].kind, std::string("AllReduce"));
                QVERIFY2(spans[i - 1].name == "o_proj" || spans[i - 1].name == "down_proj", spans[i - 1].name.c_str());
                QCOMPARE(spans[i].layer, spans[i - 1].layer);
                ++allreduces;
            }
        QCOMPARE(allreduces, 2 * 80);
    }

    void pipelinePrefillFillsFromEmpty()
    {
        const ModelSpec m = presets().model("llama-3.1-70b");
        const Topology t = presets().topology("dgx-h100");
        const Strategy s = megatron(4, 2);
        const Estimate e = estimateOf(m, s, t, 8, 2048);
        QVERIFY(e.feasible);
        const StepTimeline tl = predicted_timeline(e, m, s, false);
        QCOMPARE(tl.rows, (std::vector<std::string>{"stage 0 · GPUs 0-3", "stage 1 · GPUs 4-7"}));
        const int M = e.prefill.microbatches;
        QVERIFY(M > 1);
        // Each stage runs every microbatch once, its compute never overlapping itself.
        for (int row = 0; row < 2; ++row) {
            const auto spans = rowSpans(tl, row);
            for (std::size_t i = 1; i < spans.size(); ++i)
                QVERIFY(spans[i].start_us >= spans[i - 1].end_us() - 1e-6);
            const double stage_us = e.prefill.stages[std::size_t(row)].time_us();
            QVERIFY(qAbs(tl.busy_us(row) - M * stage_us - (row ? M * e.prefill.block("stage handoff")->comm_us() : 0))
                    < 1e-6 * tl.busy_us(row));
        }
        // Stage 1 starts once stage 0's first microbatch and its hand-off are done.
        const auto first1 = rowSpans(tl, 1).front();
        const double handoff = e.prefill.block("stage handoff")->comm_us();
        QVERIFY(qAbs(first1.start_us - (e.prefill.stages[0].time_us() + handoff)) < 1e-6 * first1.start_us);
        // The fill ends where the estimate's TTFT says it does.
        QVERIFY2(qAbs(tl.end_us() - e.ttft_ms * 1000.0) < 1e-6 * tl.end_us(),
                 qPrintable(QStringLiteral("%1 vs %2").arg(tl.end_us()).arg(e.ttft_ms * 1000.0)));
    }

    void pipelineDecodeIsOnePeriodWithTheBubbleIdle()
    {
        const ModelSpec m = presets().model("llama-3.1-70b");
        const Topology t = presets().topology("dgx-h100");
        const Strategy s = megatron(2, 4);
        const Estimate e = estimateOf(m, s, t, 16, 1024);
        QVERIFY(e.feasible);
        const StepTimeline tl = predicted_timeline(e, m, s, true);
        QCOMPARE(tl.rows.size(), std::size_t(4));
        QCOMPARE(tl.rows[3], std::string("stage 3 · GPUs 6-7"));
        const double period = e.tpot_ms * 1000.0;
        const int M = e.decode.microbatches;
        for (const auto& span : tl.spans) {
            QVERIFY(span.start_us >= 0);
            QVERIFY(span.end_us() <= period * (1 + 1e-9));
        }
        for (int row = 0; row < 4; ++row) {
            const auto spans = rowSpans(tl, row);
            for (std::size_t i = 1; i < spans.size(); ++i)
                QVERIFY(spans[i].start_us >= spans[i - 1].end_us() - 1e-6 * period);
            double compute = 0;
            for (const auto& sp : spans)
                compute += sp.duration_us;
            // Busy M x the stage's time; the rest of the period is the bubble.
            QVERIFY(qAbs(compute - M * e.decode.stages[std::size_t(row)].time_us()) < 1e-6 * period);
        }
    }

    void spansOfALegacyRunFollowEachOther()
    {
        RunStore store(m_dir.filePath(QStringLiteral("legacy.db")).toStdString());
        ingest(store,
               R"({"v":1,"event":"start","plan":"p","backend":"cpu","model":"m","topology":"t","strategy":"TP2"})");
        for (const char* rank : {"0", "1"}) {
            const std::string r = rank;
            ingest(store, (R"({"v":1,"event":"op","rank":)" + r
                           + R"(,"step":1,"layer":0,"op":"qkv_proj","kind":"qkv","us":10})")
                              .c_str());
            ingest(store, (R"({"v":1,"event":"op","rank":)" + r
                           + R"(,"step":1,"layer":0,"op":"o_proj","kind":"out_proj","us":20})")
                              .c_str());
            ingest(store, (R"({"v":1,"event":"collective","rank":)" + r
                           + R"(,"step":1,"op":"AllReduce","group":"tp","group_size":2,"bytes":64,"us":5})")
                              .c_str());
        }
        ingest(store, R"({"v":1,"event":"op","rank":0,"step":0,"layer":0,"op":"qkv_proj","kind":"qkv","us":99})");
        ingest(store, R"({"v":1,"event":"result","measured":{"tpot_ms":1}})");
        const auto id = store.list().front().id;
        QCOMPARE(stored_steps(store, id), (std::vector<int>{0, 1}));
        QCOMPARE(representative_step(store, id, true), std::optional<int>(1));
        QCOMPARE(representative_step(store, id, false), std::optional<int>(0));
        const StepTimeline tl = measured_timeline(store, id, 1);
        QVERIFY(tl.measured);
        QCOMPARE(tl.rows, (std::vector<std::string>{"rank 0", "rank 1"}));
        QCOMPARE(tl.spans.size(), std::size_t(6));
        const auto r1 = rowSpans(tl, 1);
        QCOMPARE(r1[0].start_us, 0.0);
        QCOMPARE(r1[1].start_us, 10.0);
        QCOMPARE(r1[2].start_us, 30.0);
        QCOMPARE(r1[2].name, std::string("AllReduce tp"));
        QCOMPARE(tl.period_us, 35.0);
        QVERIFY(QString::fromStdString(tl.placement).contains(QStringLiteral("no start times")));
    }

    void modeledCollectivesAreLaidEndToEndInStartOrder()
    {
        RunStore store(m_dir.filePath(QStringLiteral("modeled.db")).toStdString());
        ingest(
            store,
            R"({"v":1,"event":"start","plan":"p","backend":"cuda-emulated","model":"m","topology":"t","strategy":"TP2"})");
        // Emulated ranks share a stream: rank 1's op started after rank 0's; the collective's
        // time is the cost model's.
        ingest(
            store,
            R"({"v":1,"event":"op","rank":1,"step":1,"layer":0,"op":"o_proj","kind":"out_proj","us":20,"start_us":500})");
        ingest(
            store,
            R"({"v":1,"event":"op","rank":1,"step":1,"layer":0,"op":"qkv_proj","kind":"qkv","us":10,"start_us":100})");
        ingest(
            store,
            R"({"v":1,"event":"collective","rank":1,"step":1,"op":"AllReduce","group":"tp","group_size":2,"bytes":64,"us":7,"start_us":0,"measured":false,"time":"modeled"})");
        ingest(store, R"({"v":1,"event":"result","measured":{"tpot_ms":1}})");
        const auto id = store.list().front().id;
        const StepTimeline tl = measured_timeline(store, id, 1);
        const auto spans = rowSpans(tl, 0);
        QCOMPARE(spans.size(), std::size_t(3));
        QCOMPARE(spans[0].name, std::string("AllReduce tp"));
        QVERIFY(spans[0].modeled);
        QCOMPARE(spans[1].name, std::string("qkv_proj"));
        QCOMPARE(spans[1].start_us, 7.0);
        QCOMPARE(spans[2].start_us, 17.0);
        QVERIFY(QString::fromStdString(tl.placement).contains(QStringLiteral("network time modeled")));
    }

    void aCpuRunMatchesThePlannersCollectives()
    {
        // A real run of the CLI: every rank's step has the planner's collectives, in order,
        // at the start times the ranks measured.
        const QString db = m_dir.filePath(QStringLiteral("cpu.db"));
        const QString plan_path = QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-dense-dgx-h100-tp8.shardplan.json");
        QProcess cli;
        cli.start(QStringLiteral(SHARD_BIN_DIR "/shardstudio-cli"),
                  {QStringLiteral("run"), plan_path, QStringLiteral("--steps"), QStringLiteral("2"),
                   QStringLiteral("--db"), db});
        QVERIFY(cli.waitForFinished(120000));
        QCOMPARE(cli.exitCode(), 0);
        RunStore store(db.toStdString());
        const auto id = store.list().front().id;
        const auto step = representative_step(store, id, true);
        QCOMPARE(step, std::optional<int>(2));
        const StepTimeline measured = measured_timeline(store, id, *step);
        QCOMPARE(measured.rows.size(), std::size_t(8));
        QCOMPARE(measured.placement, std::string("start times as measured on each rank"));

        const Plan plan = load_plan(plan_path.toStdString());
        const Estimate e = estimate(plan.model, plan.strategy, plan.topology, plan.workload);
        const StepTimeline predicted = predicted_timeline(e, plan.model, plan.strategy, true);
        std::vector<std::string> want;
        for (const auto& s : rowSpans(predicted, 0))
            if (s.category == SpanCategory::Communication)
                want.push_back(s.kind);
        QVERIFY(!want.empty());
        for (int rank = 0; rank < 8; ++rank) {
            std::vector<std::string> got;
            for (const auto& s : rowSpans(measured, rank))
                if (s.category == SpanCategory::Communication)
                    got.push_back(s.kind);
            QCOMPARE(got, want);
        }
        QVERIFY(measured.period_us > 0);
    }
};

QTEST_GUILESS_MAIN(TestTimeline)
#include "tst_timeline.moc"
