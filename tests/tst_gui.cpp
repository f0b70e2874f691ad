// The studio's widgets and models offscreen: the candidates model under
// QAbstractItemModelTester, replanning after edits (off the UI thread, stale results
// dropped), selection driving the details and the Pareto chart, a broken config.json that
// leaves the model alone, plan files, and a screenshot of each main view at 1600x1000.
#include "studio_test_support.h"

#include "ui/candidate_details.h"
#include "ui/candidates_filter.h"
#include "ui/candidates_model.h"
#include "ui/cost_charts.h"
#include "ui/history_model.h"
#include "ui/history_view.h"
#include "ui/layout_view.h"
#include "ui/main_window.h"
#include "ui/model_panel.h"
#include "ui/pareto_chart.h"
#include "ui/planner_controller.h"
#include "ui/run_panel.h"
#include "ui/run_trend_chart.h"
#include "ui/timeline_view.h"
#include "ui/topology_panel.h"
#include "ui/workload_panel.h"

#include "core/plan.h"
#include "core/presets.h"

#include <qcustomplot.h>

#include <QAbstractItemModelTester>
#include <QDir>
#include <QProcess>
#include <QSettings>
#include <QSignalSpy>
#include <QTableView>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <set>

using namespace shard;
using namespace shard::ui;
using shard::test::selectTinyTp8;

namespace {

// The run panel on tiny-dense TP8 with the cpu backend and `steps` decode steps; null (the
// failure reported) when the studio did not get there.
RunPanel* cpuRunOfTinyTp8(MainWindow& window, int steps)
{
    selectTinyTp8(window);
    if (QTest::currentTestFailed())
        return nullptr;
    RunPanel* run = window.runPanel();
    if (!run->setBackend(QStringLiteral("cpu"))) {
        QTest::qFail("the run panel does not offer the cpu backend", __FILE__, __LINE__);
        return nullptr;
    }
    run->setSteps(steps);
    return run;
}

} // namespace

class TestGui : public QObject {
    Q_OBJECT

private:
    static int expectedCandidates(const char* model, const char* topology, int batch, int prompt, int generate)
    {
        Workload w;
        w.batch = batch;
        w.prompt = prompt;
        w.generate = generate;
        return int(
            plan_candidates(PresetLibrary::instance().model(model), PresetLibrary::instance().topology(topology), w)
                .candidates.size());
    }

    QTemporaryDir m_settings;

private slots:
    void initTestCase()
    {
        // Keep the tests away from the user's settings (window state, recent files).
        QSettings::setDefaultFormat(QSettings::IniFormat);
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, m_settings.path());
        QCoreApplication::setOrganizationName(QStringLiteral("ShardStudioTests"));
        // Runs started from the studio go to a scratch run database.
        qputenv("XDG_DATA_HOME", m_settings.path().toUtf8());
    }

    void candidatesModelIsAProperItemModel()
    {
        CandidatesModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        Workload w;
        w.batch = 8;
        model.setResult(plan_candidates(PresetLibrary::instance().model("llama-3.1-70b"),
                                        PresetLibrary::instance().topology("dgx-h100"), w));
        QCOMPARE(model.rowCount(), 42);
        QCOMPARE(model.columnCount(), int(CandidatesModel::ColumnCount));
        CandidatesFilter filter;
        QAbstractItemModelTester proxyTester(&filter, QAbstractItemModelTester::FailureReportingMode::QtTest);
        filter.setSourceModel(&model);
        filter.setFeasibleOnly(true);
        QCOMPARE(filter.rowCount(), model.feasibleCount());
        filter.setFilterFixedString(QStringLiteral("SUMMA"));
        for (int r = 0; r < filter.rowCount(); ++r)
            QVERIFY(filter.index(r, CandidatesModel::Strategy).data().toString().contains(QStringLiteral("SUMMA")));
        // Infeasible rows carry their reason in the row and the tooltip.
        for (int r = 0; r < model.rowCount(); ++r) {
            if (model.index(r, 0).data(CandidatesModel::FeasibleRole).toBool())
                continue;
            QVERIFY(!model.index(r, CandidatesModel::Reason).data().toString().isEmpty());
            QVERIFY(model.index(r, CandidatesModel::Strategy)
                        .data(Qt::ToolTipRole)
                        .toString()
                        .startsWith(QStringLiteral("Rejected: ")));
        }
    }

    void defaultWindowPlansTheDefaultModel()
    {
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        window.show();
        QVERIFY(shown.wait(20000));
        QCOMPARE(window.candidatesModel()->rowCount(), expectedCandidates("llama-3.1-70b", "dgx-h100", 8, 2048, 256));
        QCOMPARE(window.selectedCandidate(), 0); // the best candidate is selected
        QVERIFY(window.details()->text().contains(QStringLiteral("Memory per GPU (predicted)")));
        QCOMPARE(window.pareto()->pointCount(), window.candidatesModel()->feasibleCount());
        QCOMPARE(window.pareto()->selectedPointCount(), 1);
        // 70 B parameters are beyond the CPU reference: the run panel says so before a run.
        QVERIFY(window.runPanel()->setBackend(QStringLiteral("cpu")));
        QVERIFY2(window.runPanel()->blockedReason().contains(QStringLiteral("up to 400 M parameters"))
                     && window.runPanel()->blockedReason().contains(QStringLiteral("has 70.6 B (70,553,706,496)")),
                 qPrintable(window.runPanel()->blockedReason()));
        QVERIFY(!window.runPanel()->start());
    }

    void editsReplanAndStaleResultsAreDropped()
    {
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
        shown.clear();
        // Three edits in a row: only the last one's candidates may end up in the table.
        window.topologyPanel()->selectPreset(QStringLiteral("2x-dgx-h100"));
        QCoreApplication::processEvents();
        window.modelPanel()->selectPreset(QStringLiteral("mixtral-8x7b"));
        QCoreApplication::processEvents();
        window.modelPanel()->selectPreset(QStringLiteral("llama-3.1-8b"));
        QTRY_VERIFY_WITH_TIMEOUT(!window.planner()->busy() && !shown.isEmpty(), 20000);
        QCOMPARE(window.planner()->inputs().model.id, std::string("llama-3.1-8b"));
        QCOMPARE(window.candidatesModel()->rowCount(), expectedCandidates("llama-3.1-8b", "2x-dgx-h100", 8, 2048, 256));
    }

    void selectingARowUpdatesDetailsAndChart()
    {
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
        const int last = window.candidatesModel()->rowCount() - 1; // ranked last: infeasible
        window.selectCandidate(last);
        QCOMPARE(window.selectedCandidate(), last);
        QVERIFY(window.details()->text().contains(QStringLiteral("Rejected:")));
        QCOMPARE(window.pareto()->selectedPointCount(), 0); // infeasible: not on the chart
        QCOMPARE(window.costCharts()->communicationPlot()->plottableCount(), 0); // nothing to show
        window.selectCandidate(1);
        QVERIFY(window.details()->text().contains(QStringLiteral("Collectives of one decode step")));
        QCOMPARE(window.pareto()->selectedPointCount(), 1);
        // TP8+SP: ReduceScatter and AllGather in the layers, AllGather for the argmax.
        const Candidate* c = window.candidatesModel()->candidate(1);
        std::set<CollectiveKind> kinds;
        for (const auto& block : c->estimate.decode.blocks)
            for (const auto& col : block.collectives)
                kinds.insert(col.op);
        QCOMPARE(window.costCharts()->communicationPlot()->plottableCount(), int(kinds.size()));
        // Ten best feasible candidates (the selection among them), compute + communication +
        // bubble stacked, plus the selection's outline.
        QCPBars* compute = qobject_cast<QCPBars*>(window.costCharts()->breakdownPlot()->plottable(0));
        QVERIFY(compute);
        QCOMPARE(compute->dataCount(), 10);
        QCOMPARE(window.costCharts()->breakdownPlot()->plottableCount(), 4);
    }

    void layoutViewDrawsMeshTilesStagesAndExperts()
    {
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
        auto select = [&](const std::string& label) {
            for (int i = 0; i < window.candidatesModel()->rowCount(); ++i)
                if (window.candidatesModel()->candidate(i)->strategy.label() == label) {
                    window.selectCandidate(i);
                    return true;
                }
            return false;
        };
        LayoutView* layout = window.layoutView();
        QVERIFY(select("TP8"));
        QCOMPARE(layout->count(QStringLiteral("gpu")), 8);
        QCOMPARE(layout->count(QStringLiteral("tile")), 16); // up split 8 ways by columns, down by rows
        QCOMPARE(layout->count(QStringLiteral("stage")), 0);
        // The decode step's collectives, each block's once, with their first group's GPUs.
        auto collectives = [&] {
            int n = 0;
            for (const auto& block :
                 window.candidatesModel()->candidate(window.selectedCandidate())->estimate.decode.blocks)
                n += int(block.collectives.size());
            return n;
        };
        QCOMPARE(layout->count(QStringLiteral("collective")), collectives());
        QVERIFY(layout->texts(QStringLiteral("collective"))
                    .filter(QStringLiteral("AllReduce o_proj · tp of 8: GPUs 0-7 · "))
                    .size()
                == 1);
        QVERIFY(select("PP2 x TP4"));
        QCOMPARE(layout->count(QStringLiteral("stage")), 80); // one cell per layer
        QCOMPARE(layout->count(QStringLiteral("tile")), 8);
        QCOMPARE(layout->count(QStringLiteral("collective")), collectives());
        QVERIFY2(layout->texts(QStringLiteral("collective"))
                         .filter(QStringLiteral("SendRecv activations · pp of 2: GPUs 0, 4 (1 of 4) · "))
                         .size()
                     == 1,
                 qPrintable(layout->texts(QStringLiteral("collective")).join(QLatin1Char('\n'))));
        QVERIFY(select("2D-WS 2x4"));
        QCOMPARE(layout->count(QStringLiteral("tile")), 16); // 2 x 4 blocks of each matrix
        shown.clear();
        window.modelPanel()->selectPreset(QStringLiteral("mixtral-8x7b"));
        QTRY_VERIFY_WITH_TIMEOUT(!window.planner()->busy() && !shown.isEmpty(), 20000);
        // 2D-WS stays selected and is rejected for a MoE model (only its mesh is drawn);
        // the best candidate, a Megatron layout, shows the experts.
        QVERIFY(!window.candidatesModel()->candidate(window.selectedCandidate())->estimate.feasible);
        QCOMPARE(layout->count(QStringLiteral("expert")), 0);
        window.selectCandidate(0);
        QVERIFY(window.candidatesModel()->candidate(window.selectedCandidate())->strategy.ep >= 1);
        QCOMPARE(layout->count(QStringLiteral("expert")), 8);
    }

    void brokenConfigLeavesTheModelAlone()
    {
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
        const ModelSpec before = window.modelPanel()->model();
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("config.json"));
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("{\"model_type\": \"llama\", \"hidden_size\": 4096,\n  \"num_attention_heads\": }\n");
        file.close();
        QVERIFY(!window.modelPanel()->importConfig(path));
        QVERIFY2(window.modelPanel()->errorText().contains(QStringLiteral("line 2")),
                 qPrintable(window.modelPanel()->errorText()));
        QVERIFY(window.modelPanel()->model() == before);
        // A valid one is taken.
        QVERIFY(window.modelPanel()->importConfig(QStringLiteral(SHARD_TEST_FIXTURES "/hf/llama-2-7b.json")));
        QCOMPARE(window.modelPanel()->model().total_params(), std::int64_t(6'738'415'616));
        QVERIFY(window.modelPanel()->errorText().isEmpty());
    }

    void savedPlanOpensOnItsCandidate()
    {
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
        window.selectCandidate(2);
        const Strategy chosen = window.candidatesModel()->candidate(2)->strategy;
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("chosen.shardplan.json"));
        QVERIFY(window.savePlan(path));
        const Plan plan = load_plan(path.toStdString());
        QVERIFY(plan.strategy == chosen);

        MainWindow other;
        QSignalSpy otherShown(&other, &MainWindow::candidatesShown);
        QVERIFY(otherShown.wait(20000));
        otherShown.clear();
        QVERIFY(other.openPlan(path));
        QVERIFY(otherShown.wait(20000));
        QVERIFY(other.candidatesModel()->candidate(other.selectedCandidate())->strategy == chosen);
    }

    void cpuRunFromTheRunPanelLandsInHistory()
    {
        MainWindow window;
        RunPanel* run = cpuRunOfTinyTp8(window, 3);
        if (!run)
            return;
        QSignalSpy finished(run, &RunPanel::runFinished);
        QVERIFY(run->start());
        QVERIFY(finished.wait(120000));
        QCOMPARE(finished.front().front().toString(), QStringLiteral("completed"));
        QVERIFY2(run->log().contains(QStringLiteral("tokens identical")), qPrintable(run->log()));
        QSignalSpy refreshed(window.history(), &HistoryView::refreshed);
        window.history()->refresh();
        QVERIFY(refreshed.wait(10000));
        const HistoryModel* history = window.history()->model();
        QVERIFY(history->rowCount() >= 1);
        bool found = false;
        for (int r = 0; r < history->rowCount(); ++r)
            found = found
                    || (history->run(r)->backend == "cpu" && history->run(r)->status == RunStatus::Completed
                        && history->run(r)->model == "tiny-dense");
        QVERIFY(found);
        // The finished run's step shows in the timeline, per rank, under its prediction.
        QTRY_COMPARE_WITH_TIMEOUT(window.timeline()->shownRun(), run->runId(), 20000);
        QVERIFY(run->runId() > 0);
        QCOMPARE(window.timeline()->measuredRows().size(), 8);
        QVERIFY(window.timeline()->measuredSpanCount() > 0);
    }

    void cancelMidRunStoresACancelledRun()
    {
        MainWindow window;
        RunPanel* run = cpuRunOfTinyTp8(window, 400); // seconds of work: cancelled long before the end
        if (!run)
            return;
        QSignalSpy finished(run, &RunPanel::runFinished);
        QVERIFY(run->start());
        QTRY_VERIFY_WITH_TIMEOUT(run->log().contains(QStringLiteral("Started")), 30000);
        run->cancel();
        QVERIFY(finished.wait(30000));
        QCOMPARE(finished.front().front().toString(), QStringLiteral("cancelled"));
        // A cancel the user asked for is reported as one, not as an error.
        QVERIFY2(!run->log().contains(QStringLiteral("Error")), qPrintable(run->log()));
        QVERIFY2(run->log().contains(QStringLiteral("Cancelled, as asked")), qPrintable(run->log()));
        QSignalSpy refreshed(window.history(), &HistoryView::refreshed);
        window.history()->refresh();
        QVERIFY(refreshed.wait(10000));
        const HistoryModel* history = window.history()->model();
        int cancelled = 0;
        for (int r = 0; r < history->rowCount(); ++r)
            cancelled += history->run(r)->status == RunStatus::Cancelled ? 1 : 0;
        QCOMPARE(cancelled, 1);
    }

    void historyIsAProperModelAndCompares()
    {
        HistoryView view;
        QAbstractItemModelTester tester(view.model(), QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy refreshed(&view, &HistoryView::refreshed);
        view.refresh();
        QVERIFY(refreshed.wait(10000));
        QVERIFY(view.model()->rowCount() >= 2); // the two runs above
        view.view()->selectAll();
        QSignalSpy compared(&view, &HistoryView::compared);
        view.compareSelected();
        QVERIFY(compared.wait(10000));
        // Two bar series (measured, predicted) per selected run.
        QCOMPARE(view.comparePlot()->plottableCount(), 2 * view.model()->rowCount());
        QTemporaryDir dir;
        QVERIFY(view.exportCsv(dir.filePath(QStringLiteral("runs.csv"))));
        QFile csv(dir.filePath(QStringLiteral("runs.csv")));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        QCOMPARE(csv.readAll().count('\n'), view.model()->rowCount() + 1);
    }

    void screenshots()
    {
        MainWindow window;
        window.resize(1600, 1000);
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        window.show();
        QVERIFY(shown.wait(20000));
        const QString dir = QStringLiteral(SHARD_BIN_DIR "/../screenshots");
        QDir().mkpath(dir);
        QVERIFY(window.grab().save(dir + QStringLiteral("/studio-layout.png")));
        window.views()->setCurrentWidget(window.details());
        QVERIFY(window.grab().save(dir + QStringLiteral("/studio-candidates.png")));
        window.views()->setCurrentWidget(window.pareto());
        QCoreApplication::processEvents();
        QVERIFY(window.grab().save(dir + QStringLiteral("/studio-pareto.png")));
        window.views()->setCurrentWidget(window.costCharts());
        QVERIFY(window.grab().save(dir + QStringLiteral("/studio-charts.png")));
        window.views()->setCurrentWidget(window.runPanel());
        QVERIFY(window.grab().save(dir + QStringLiteral("/studio-run.png")));
        QVERIFY(window.pareto()->exportTo(dir + QStringLiteral("/pareto.svg")));
        // Three runs of one plan for the run-over-run chart (the CLI, into the same store).
        for (int i = 0; i < 3; ++i) {
            QProcess cli;
            cli.start(QStringLiteral(SHARD_BIN_DIR "/shardstudio-cli"),
                      {QStringLiteral("run"),
                       QStringLiteral(SHARD_SOURCE_DIR "/plans/tiny-dense-dgx-h100-tp8.shardplan.json"),
                       QStringLiteral("--steps"), QString::number(4 + 4 * i)});
            QVERIFY(cli.waitForFinished(120000));
            QCOMPARE(cli.exitCode(), 0);
        }
        window.views()->setCurrentWidget(window.history());
        QSignalSpy refreshed(window.history(), &HistoryView::refreshed);
        QVERIFY(refreshed.wait(10000));
        window.history()->view()->selectAll();
        QSignalSpy compared(window.history(), &HistoryView::compared);
        window.history()->compareSelected();
        QVERIFY(compared.wait(10000));
        QVERIFY(window.grab().save(dir + QStringLiteral("/studio-history.png")));
        window.history()->view()->selectRow(0); // the newest: one of the three
        window.history()->compareSelected();
        QVERIFY(compared.wait(10000));
        QVERIFY(window.history()->trendChart()->runCount() >= 3); // and the studio's own runs of that plan
        window.history()->charts()->setCurrentIndex(1);
        QVERIFY(window.grab().save(dir + QStringLiteral("/studio-history-trend.png")));
        // That run's timeline, measured under its plan's prediction.
        QSignalSpy runShown(window.timeline(), &TimelineView::runShown);
        window.history()->showSelectedTimeline();
        QVERIFY(runShown.wait(20000));
        QCOMPARE(window.views()->currentWidget(), window.timeline());
        QVERIFY(window.grab().save(dir + QStringLiteral("/studio-timeline.png")));
        window.views()->setCurrentWidget(window.runPanel());
        QVERIFY(window.grab().save(dir + QStringLiteral("/studio-run.png")));
        QVERIFY(QFileInfo(dir + QStringLiteral("/pareto.svg")).size() > 1000);
    }
};

QTEST_MAIN(TestGui)
#include "tst_gui.moc"
