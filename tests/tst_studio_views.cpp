// The studio's timeline, run-over-run comparison, charts and prediction sources, offscreen:
// what each view draws is checked against the engine's own numbers (the window's own
// behaviour is in tst_studio_window).
#include "studio_test_support.h"

#include "ui/candidates_model.h"
#include "ui/cost_charts.h"
#include "ui/gantt_bars.h"
#include "ui/history_model.h"
#include "ui/history_view.h"
#include "ui/kind_compare_chart.h"
#include "ui/layout_view.h"
#include "ui/main_window.h"
#include "ui/model_panel.h"
#include "ui/plot_style.h"
#include "ui/run_panel.h"
#include "ui/run_trend_chart.h"
#include "ui/serving_charts.h"
#include "ui/serving_view.h"
#include "ui/timeline_view.h"
#include "ui/topology_panel.h"
#include "ui/workload_panel.h"

#include "core/plan.h"
#include "cost/predicted_timeline.h"
#include "cuda/backend_info.h"
#include "planner/planner.h"
#include "store/kind_comparison.h"
#include "store/profile_store.h"
#include "store/run_timeline.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QProcess>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardItemModel>
#include <QTemporaryDir>

#include <numeric>

using namespace shard;
using namespace shard::ui;

namespace {

const QString kTinyTp8 = QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-dense-dgx-h100-tp8.shardplan.json");
const QString kTinySumma = QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-dense-summa-2x2.shardplan.json");

// Runs a plan on the CPU backend into `db` with the CLI; returns its run id (0 on failure).
qint64 runPlan(const QString& plan, const QString& db, int steps = 2)
{
    QProcess cli;
    cli.start(QStringLiteral(SHARD_BIN_DIR "/shardstudio-cli"), {QStringLiteral("run"), plan, QStringLiteral("--steps"),
                                                                 QString::number(steps), QStringLiteral("--db"), db});
    if (!cli.waitForFinished(120000) || cli.exitCode() != 0)
        return 0;
    RunStore store(db.toStdString());
    return store.list().front().id;
}

} // namespace

class TestStudioViews : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_db;
    qint64 m_tp8Run = 0;

    static void waitPlanned(MainWindow& window)
    {
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
    }

private slots:
    void initTestCase()
    {
        QSettings::setDefaultFormat(QSettings::IniFormat);
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, m_dir.path());
        QCoreApplication::setOrganizationName(QStringLiteral("ShardStudioTests"));
        qputenv("XDG_DATA_HOME", m_dir.path().toUtf8());
        m_db = m_dir.filePath(QStringLiteral("runs.db"));
        m_tp8Run = runPlan(kTinyTp8, m_db);
        QVERIFY(m_tp8Run > 0);
        QVERIFY(runPlan(kTinyTp8, m_db) > 0);
        QVERIFY(runPlan(kTinySumma, m_db) > 0);
    }

    void timelineFollowsTheSelectedCandidate()
    {
        MainWindow window;
        waitPlanned(window);
        const auto& in = window.planner()->inputs();
        const Candidate* c = window.candidatesModel()->candidate(window.selectedCandidate());
        QVERIFY(c && c->estimate.feasible);
        TimelineView* timeline = window.timeline();
        // A hidden tab draws nothing; its counts already say what it will show.
        QCOMPARE(timeline->predictedSpanCount(),
                 int(predicted_timeline(c->estimate, in.model, c->strategy, true).spans.size()));
        window.views()->setCurrentWidget(timeline);
        window.resize(1600, 1000);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        for (const bool decode : {true, false}) {
            timeline->setDecode(decode);
            const StepTimeline want = predicted_timeline(c->estimate, in.model, c->strategy, decode);
            QCOMPARE(timeline->predictedSpanCount(), int(want.spans.size()));
            QCOMPARE(timeline->predictedRows().size(), int(want.rows.size()));
            int bars = 0;
            for (int i = 0; i < timeline->predictedPlot()->plottableCount(); ++i)
                if (auto* g = dynamic_cast<GanttBars*>(timeline->predictedPlot()->plottable(i)))
                    bars += int(g->bars().size());
            QCOMPARE(bars, int(want.spans.size()));
        }
        QCOMPARE(timeline->measuredSpanCount(), 0);

        // Hovering the middle of a span names it, says "predicted" and gives its unit.
        timeline->setDecode(true);
        QCustomPlot* plot = timeline->predictedPlot();
        GanttBars* series = nullptr;
        for (int i = 0; i < plot->plottableCount() && !series; ++i)
            if (auto* g = dynamic_cast<GanttBars*>(plot->plottable(i));
                g && g->name().startsWith(QStringLiteral("attention")))
                series = g;
        QVERIFY(series);
        // Zoom in on the first layer so its spans are wide enough to hit.
        const auto& first = series->bars().front();
        plot->xAxis->setRange(first.start - first.duration, first.start + 2 * first.duration);
        plot->replot();
        const QPointF centre(plot->xAxis->coordToPixel(first.start + first.duration / 2),
                             plot->yAxis->coordToPixel(first.row));
        const QString text = timeline->describeAt(plot, centre);
        const StepTimeline want = predicted_timeline(c->estimate, in.model, c->strategy, true);
        QVERIFY2(text.startsWith(QString::fromStdString(want.spans[std::size_t(first.tag)].name)), qPrintable(text));
        QVERIFY2(text.contains(QStringLiteral("predicted")) && text.contains(QStringLiteral(" µs")), qPrintable(text));
    }

    void timelineShowsAStoredRunMeasuredAndPredicted()
    {
        TimelineView timeline;
        QSignalSpy shown(&timeline, &TimelineView::runShown);
        timeline.showRun(m_db, m_tp8Run);
        QVERIFY(shown.wait(20000));
        QCOMPARE(shown.front().at(1).toString(), QString());
        QCOMPARE(timeline.shownRun(), m_tp8Run);
        // Measured: one row per rank, every op and collective of the last decode step.
        QCOMPARE(timeline.measuredRows().size(), 8);
        QCOMPARE(timeline.measuredRows().front(), QStringLiteral("rank 0"));
        RunStore store(m_db.toStdString());
        Statement rows =
            store.db().prepare("SELECT (SELECT count(*) FROM op_measurements WHERE run_id = ?1 AND step = 2) + "
                               "(SELECT count(*) FROM collective_measurements WHERE run_id = ?1 AND step = 2)");
        rows.bind(1, std::int64_t(m_tp8Run)).step();
        QCOMPARE(timeline.measuredSpanCount(), int(rows.int64(0)));
        // Predicted: the run's own plan, TP8 on one row.
        QCOMPARE(timeline.predictedRows(), QStringList{QStringLiteral("all 8 GPUs 0-7")});
        timeline.setDecode(false);
        QVERIFY(timeline.measuredSpanCount() > 0); // the prefill, step 0

        // Selecting the same plan keeps the run; another plan replaces it.
        const Plan same = load_plan(kTinyTp8.toStdString());
        const Estimate e = estimate(same.model, same.strategy, same.topology, same.workload);
        timeline.showPlan(same, &e);
        QCOMPARE(timeline.shownRun(), m_tp8Run);
        const Plan other = load_plan(kTinySumma.toStdString());
        const Estimate e2 = estimate(other.model, other.strategy, other.topology, other.workload);
        timeline.showPlan(other, &e2);
        QCOMPARE(timeline.shownRun(), qint64(0));
        QCOMPARE(timeline.measuredSpanCount(), 0);
    }

    void aMissingRunSaysSo()
    {
        TimelineView timeline;
        QSignalSpy shown(&timeline, &TimelineView::runShown);
        timeline.showRun(m_db, 9999);
        QVERIFY(shown.wait(20000));
        QVERIFY2(shown.front().at(1).toString().contains(QStringLiteral("run 9999 is not in")),
                 qPrintable(shown.front().at(1).toString()));
        QCOMPARE(timeline.measuredSpanCount(), 0);
    }

    void historyComparesRunOverRun()
    {
        HistoryView view;
        QSignalSpy refreshed(&view, &HistoryView::refreshed);
        view.setDatabase(m_db);
        QVERIFY(refreshed.wait(10000));
        QCOMPARE(view.model()->rowCount(), 3);
        // One run selected: every run of its plan, oldest first.
        view.view()->selectRow(view.view()->model()->rowCount() - 1); // sorted newest first: the oldest
        QSignalSpy compared(&view, &HistoryView::compared);
        view.compareSelected();
        QCOMPARE(view.trendChart()->runCount(), 2);
        QCOMPARE(view.trendChart()->pointCount(QStringLiteral("TPOT measured")), 2);
        QCOMPARE(view.trendChart()->pointCount(QStringLiteral("TTFT predicted")), 2);
        {
            // Each point names its run, its figure and whether it was measured or predicted.
            view.resize(1200, 800);
            view.show();
            view.charts()->setCurrentWidget(view.trendChart());
            QVERIFY(QTest::qWaitForWindowExposed(&view));
            QCustomPlot* trend = view.trendChart()->plot();
            trend->replot();
            const QCPGraph* tpot = trend->graph(0);
            const QPointF at(trend->xAxis->coordToPixel(tpot->data()->at(0)->key),
                             trend->yAxis->coordToPixel(tpot->data()->at(0)->value));
            const QString hover = view.trendChart()->hoverTextAt(at);
            QVERIFY2(hover.contains(QStringLiteral("run #%1").arg(m_tp8Run))
                         && hover.contains(QStringLiteral("TPOT measured")) && hover.contains(QStringLiteral(" ms")),
                     qPrintable(hover));
        }
        QTRY_VERIFY_WITH_TIMEOUT(!compared.isEmpty(), 10000); // it may have come while the window showed
        compared.clear();
        QCOMPARE(view.comparePlot()->plottableCount(), 2);
        // Several selected: exactly those.
        view.view()->selectAll();
        view.compareSelected();
        QCOMPARE(view.trendChart()->runCount(), 3);
        QVERIFY(compared.wait(10000));
        QCOMPARE(view.comparePlot()->plottableCount(), 6);

        QSignalSpy timeline(&view, &HistoryView::timelineRequested);
        view.view()->selectRow(view.view()->model()->rowCount() - 1);
        view.showSelectedTimeline();
        QCOMPARE(timeline.size(), 1);
        QCOMPARE(timeline.front().at(0).toString(), m_db);
        QCOMPARE(timeline.front().at(1).toLongLong(), m_tp8Run);
    }

    void historyComparesOpsAndCollectivesOnAReadableScale()
    {
        // The store's comparison: the run's collectives next to its ops, each collective's
        // prediction the plan's predicted decode step for that kind, per row.
        RunStore store(m_db.toStdString());
        const std::vector<KindComparison> kinds = compare_decode_by_kind(store, m_tp8Run);
        const auto allReduce =
            std::find_if(kinds.begin(), kinds.end(), [](const KindComparison& k) { return k.kind == "AllReduce"; });
        QVERIFY(allReduce != kinds.end());
        QVERIFY(allReduce->collective);
        QVERIFY(!kinds.front().collective); // ops first
        Statement measured = store.db().prepare(
            "SELECT sum(us) / (count(DISTINCT step) * count(DISTINCT rank)) / 1000.0 FROM collective_measurements "
            "WHERE run_id = ? AND step > 0 AND op = 'AllReduce'");
        measured.bind(1, std::int64_t(m_tp8Run)).step();
        QCOMPARE(allReduce->measured_ms, measured.real(0));
        const Plan plan = load_plan(kTinyTp8.toStdString());
        const StepTimeline predicted = predicted_timeline(
            estimate(plan.model, plan.strategy, plan.topology, plan.workload), plan.model, plan.strategy, true);
        double want = 0;
        for (const TimelineSpan& span : predicted.spans)
            want += span.kind == "AllReduce" ? span.duration_us / 1000.0 / double(predicted.rows.size()) : 0.0;
        QVERIFY(want > 0);
        QVERIFY(allReduce->predicted_ms);
        QCOMPARE(*allReduce->predicted_ms, want);
        const KindShares shares = decode_shares(kinds);
        QCOMPARE(std::accumulate(shares.measured.begin(), shares.measured.end(), 0.0), 1.0);
        QCOMPARE(std::accumulate(shares.predicted.begin(), shares.predicted.end(), 0.0), 1.0);

        HistoryView view;
        view.resize(1200, 800);
        view.show();
        QSignalSpy refreshed(&view, &HistoryView::refreshed);
        view.setDatabase(m_db);
        QVERIFY(refreshed.wait(10000));
        KindCompareChart* chart = view.kindChart();
        // Nothing selected: no bars and no empty legend.
        view.compareSelected();
        QCOMPARE(chart->plot()->plottableCount(), 0);
        QVERIFY(!chart->plot()->legend->visible());
        QVERIFY(chart->title().contains(QStringLiteral("select runs")));

        view.view()->selectRow(view.view()->model()->rowCount() - 1); // the TP8 run: the oldest
        QSignalSpy compared(&view, &HistoryView::compared);
        view.compareSelected();
        QVERIFY(compared.wait(10000));
        QVERIFY(chart->plot()->legend->visible());
        QVERIFY2(chart->kindLabels().contains(QStringLiteral("AllReduce\n(collective)")),
                 qPrintable(chart->kindLabels().join(QLatin1Char('|'))));
        const QString run = QStringLiteral("#%1").arg(m_tp8Run);
        QCOMPARE(chart->seriesNames(),
                 (QStringList{run + QStringLiteral(" measured (cpu)"), run + QStringLiteral(" predicted (dgx-h100)")}));
        QVERIFY(chart->title().contains(QStringLiteral("hatched bars predicted")));
        // Log scale, several readable labels however far apart CPU and H100 are.
        QCOMPARE(chart->plot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
        chart->plot()->replot();
        QVERIFY2(chart->plot()->yAxis->tickVectorLabels().size() >= 3,
                 qPrintable(chart->plot()->yAxis->tickVectorLabels().join(QLatin1Char(' '))));
        // Every bar says what it is: hover the AllReduce measured bar.
        auto* bars = qobject_cast<QCPBars*>(chart->plot()->plottable(0));
        QVERIFY(bars);
        const int column = int(chart->kindLabels().indexOf(QStringLiteral("AllReduce\n(collective)")));
        int index = -1;
        for (int i = 0; i < bars->dataCount(); ++i)
            if (std::abs(bars->data()->at(i)->key - column) < 0.5)
                index = i;
        QVERIFY(index >= 0);
        const double key = bars->data()->at(index)->key, value = bars->data()->at(index)->value;
        QCOMPARE(value, allReduce->measured_ms);
        const QPointF centre(chart->plot()->xAxis->coordToPixel(key), chart->plot()->yAxis->coordToPixel(value) + 2);
        const QString hover = chart->hoverTextAt(centre);
        QVERIFY2(hover.contains(QStringLiteral("AllReduce (collective)")) && hover.contains(QStringLiteral("measured"))
                     && hover.contains(QStringLiteral("ms per decode step")),
                 qPrintable(hover));
        // The shape of each step: shares in percent on a linear axis, each run's summing to 100.
        chart->setScale(KindCompareChart::Scale::ShareOfStep);
        QCOMPARE(chart->plot()->yAxis->scaleType(), QCPAxis::stLinear);
        double total = 0;
        auto* measuredShares = qobject_cast<QCPBars*>(chart->plot()->plottable(0));
        for (auto it = measuredShares->data()->constBegin(); it != measuredShares->data()->constEnd(); ++it)
            total += it->value;
        QCOMPARE(total, 100.0);
    }

    void logAxesKeepSeveralReadableLabels()
    {
        // A plain log ticker shows one label (or none) on a range inside one decade, and a
        // 1-2-5 ticker crowds eight decades; both must stay between 3 and 12 labels.
        QCustomPlot plot;
        plot.resize(600, 400);
        use_readable_log_scale(plot.yAxis);
        for (const auto& [lower, upper] : {std::pair{9.5, 11.0}, std::pair{10.0, 200.0}, std::pair{0.114, 400.0},
                                           std::pair{1e-4, 1e4}, std::pair{2.1, 2.9}}) {
            plot.yAxis->setRange(lower, upper);
            plot.replot();
            const QVector<QString> labels = plot.yAxis->tickVectorLabels();
            const QString shown = QStringList(labels.begin(), labels.end()).join(QLatin1Char(' '));
            QVERIFY2(labels.size() >= 3 && labels.size() <= 12, qPrintable(shown));
            QCOMPARE(QSet<QString>(labels.begin(), labels.end()).size(), labels.size());
        }
    }

    void chartsNameEveryPointOnHover()
    {
        MainWindow window;
        waitPlanned(window);
        window.resize(1600, 1000);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        window.views()->setCurrentWidget(window.costCharts());
        QCoreApplication::processEvents();
        const Candidate* c = window.candidatesModel()->candidate(window.selectedCandidate());
        QCustomPlot* breakdown = window.costCharts()->breakdownPlot();
        breakdown->replot();
        // The selected candidate is the breakdown's first column (the best); hover its compute part.
        const QPointF at(breakdown->xAxis->coordToPixel(0),
                         breakdown->yAxis->coordToPixel(c->estimate.decode.compute_ms / 2));
        const QString text = window.costCharts()->breakdownHoverAt(at);
        QVERIFY2(text.contains(QString::fromStdString(c->strategy.label())) && text.contains(QStringLiteral("ms"))
                     && text.contains(QStringLiteral("predicted")),
                 qPrintable(text));
        // The legend sits under the chart, not over the selected column.
        QVERIFY(breakdown->legend->outerRect().top() >= breakdown->axisRect()->outerRect().bottom());
        // The communication chart: each stacked part names its block, collective and MiB.
        QCustomPlot* comm = window.costCharts()->communicationPlot();
        comm->replot();
        QVERIFY(comm->plottableCount() > 0);
        auto* part = qobject_cast<QCPBars*>(comm->plottable(0));
        QVERIFY(part);
        int index = -1;
        for (int i = 0; i < part->dataCount(); ++i)
            if (part->data()->at(i)->value > 0)
                index = i;
        QVERIFY(index >= 0);
        const double key = part->data()->at(index)->key;
        QVERIFY(!part->barBelow()); // the bottom of the stack: its middle is half its value
        const double middle = part->data()->at(index)->value / 2;
        const QString bytes = window.costCharts()->communicationHoverAt(
            QPointF(comm->xAxis->coordToPixel(key), comm->yAxis->coordToPixel(middle)));
        QVERIFY2(bytes.contains(part->name()) && bytes.contains(QStringLiteral("MiB sent per GPU"))
                     && bytes.contains(QStringLiteral("predicted")),
                 qPrintable(bytes));
        QVERIFY(comm->legend->outerRect().top() >= comm->axisRect()->outerRect().bottom());
    }

    void predictedBarsCarryTheStoredRunsErrorBand()
    {
        KindCompareChart chart;
        chart.resize(900, 500);
        chart.show();
        QVERIFY(QTest::qWaitForWindowExposed(&chart));
        RunRecord run;
        run.id = 7;
        run.backend = "cuda";
        run.topology = "dgx-h100";
        KindComparison attention;
        attention.kind = "attention";
        attention.measured_ms = 0.12;
        attention.predicted_ms = 0.10;
        attention.band_low_ms = 0.11;
        attention.band_high_ms = 0.13;
        attention.calibrated_ms = 0.12;
        attention.band_runs = 3;
        KindComparison qkv; // no CUDA run of this kind: no band
        qkv.kind = "qkv";
        qkv.measured_ms = 0.05;
        qkv.predicted_ms = 0.04;
        chart.setRuns({run}, {{attention, qkv}});
        QCOMPARE(chart.errorBandCount(), 1);
        auto* predicted = qobject_cast<QCPBars*>(chart.plot()->plottable(1));
        QVERIFY(predicted);
        const double key = predicted->data()->at(0)->key;
        chart.plot()->replot();
        const QString text =
            chart.hoverTextAt(QPointF(chart.plot()->xAxis->coordToPixel(key), chart.plot()->yAxis->coordToPixel(0.05)));
        QVERIFY2(text.contains(QStringLiteral("error band: 3 completed CUDA run(s)"))
                     && text.contains(QStringLiteral("0.11 - 0.13 ms")),
                 qPrintable(text));
        // The whiskers follow the bar onto the share scale and stay on the chart.
        chart.setScale(KindCompareChart::Scale::ShareOfStep);
        QCOMPARE(chart.errorBandCount(), 1);
        const double top = chart.plot()->yAxis->range().upper;
        QVERIFY2(top >= 100.0 * 0.10 / 0.14 * 1.3, qPrintable(QString::number(top)));
        chart.clear();
        QCOMPARE(chart.errorBandCount(), 0);
    }

    void thePredictionSourceIsShownAndSwitchedPerGpuKind()
    {
        // A profile of this machine's H100s whose bf16 GEMMs are far slower than any shipped
        // row: every plan priced from it shows it.
        const std::string db = RunStore::default_path();
        QVERIFY(QDir().mkpath(QFileInfo(QString::fromStdString(db)).path()));
        std::int64_t id = 0;
        {
            RunStore store(db);
            MachineProfile p;
            p.created_at = "2026-12-03T10:15:00Z";
            p.gpu_kind = "H100 SXM 80GB";
            p.gpu_name = "NVIDIA H100 80GB HBM3";
            p.devices = 1;
            p.tables["gemm"] = "gemm_dtype,n,k,m=1,m=64\nbfloat16,4096,4096,5,5\n";
            id = add_profile(store, p);
        }
        MainWindow window;
        waitPlanned(window);
        auto* tables = window.topologyPanel()->findChild<QComboBox*>(QStringLiteral("predictionTables"));
        auto* source = window.topologyPanel()->findChild<QLabel*>(QStringLiteral("predictionSource"));
        QVERIFY(tables && source);
        QCOMPARE(QString::fromStdString(window.planner()->inputs().topology.gpu.name), QStringLiteral("H100 SXM 80GB"));
        QCOMPARE(source->text(), QStringLiteral("Profile #%1 of this machine, 2026-12-03: GEMMs (bfloat16); the rest "
                                                "from the shipped tables.")
                                     .arg(id));
        QVERIFY(source->toolTip().startsWith(QStringLiteral("1 x NVIDIA H100 80GB HBM3, driver")));
        const Candidate* fromProfile = window.candidatesModel()->candidate(window.selectedCandidate());
        QVERIFY2(fromProfile->estimate.source.find("calibrated on this machine, 2026-12-03") != std::string::npos,
                 fromProfile->estimate.source.c_str());
        const Strategy layout = fromProfile->strategy;
        const double profileTpot = fromProfile->estimate.tpot_ms;

        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        tables->setCurrentIndex(tables->findData(QStringLiteral("shipped")));
        QVERIFY(shown.wait(20000));
        QCOMPARE(window.planner()->inputs().tables, TableSource::Shipped);
        QVERIFY2(source->text().contains(QStringLiteral("Measured H100 SXM 80GB tables shipped with ShardStudio")),
                 qPrintable(source->text()));
        const CandidatesModel* model = window.candidatesModel();
        double shippedTpot = 0;
        for (int i = 0; i < model->rowCount(); ++i)
            if (model->candidate(i)->strategy == layout)
                shippedTpot = model->candidate(i)->estimate.tpot_ms;
        QVERIFY2(shippedTpot > 0 && shippedTpot < profileTpot,
                 qPrintable(QStringLiteral("%1 vs %2").arg(shippedTpot).arg(profileTpot)));

        // Another GPU kind has its own choice, and no profile to pick.
        shown.clear();
        QVERIFY(window.topologyPanel()->selectPreset(QStringLiteral("8x-h200")));
        QVERIFY(shown.wait(20000));
        auto* items = qobject_cast<QStandardItemModel*>(tables->model());
        QVERIFY(!items->item(1)->isEnabled());
        QCOMPARE(tables->currentData().toString(), QStringLiteral("auto"));
        QVERIFY2(source->text().contains(QStringLiteral("No profile of this GPU kind on this machine")),
                 qPrintable(source->text()));
        shown.clear();
        QVERIFY(window.topologyPanel()->selectPreset(QStringLiteral("dgx-h100")));
        QVERIFY(shown.wait(20000));
        QCOMPARE(tables->currentData().toString(), QStringLiteral("shipped"));
        QVERIFY(items->item(1)->isEnabled());
        RunStore store(db);
        QVERIFY(remove_profile(store, id));
    }
};

QTEST_MAIN(TestStudioViews)
#include "tst_studio_views.moc"
