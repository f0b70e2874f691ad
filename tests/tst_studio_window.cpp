// The studio's main window as a user leaves it, offscreen: the Serving tab and the backend
// checks off the UI thread, chart export, and the prompts for unsaved changes and a run in
// progress.
#include "studio_test_support.h"

#include "ui/cost_charts.h"
#include "ui/history_view.h"
#include "ui/layout_view.h"
#include "ui/main_window.h"
#include "ui/model_panel.h"
#include "ui/run_panel.h"
#include "ui/serving_charts.h"
#include "ui/serving_view.h"
#include "ui/timeline_view.h"
#include "ui/topology_panel.h"
#include "ui/workload_panel.h"

#include "core/plan.h"
#include "cuda/backend_info.h"
#include "planner/planner.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTimer>

using namespace shard;
using namespace shard::ui;

namespace {

// Clicks `button` on the modal message box named `name` once it shows; `answered` says
// whether it did.
void answerPrompt(const QString& name, QMessageBox::StandardButton button, bool* answered)
{
    *answered = false;
    auto* timer = new QTimer;
    timer->setInterval(20);
    QObject::connect(timer, &QTimer::timeout, timer, [timer, name, button, answered] {
        auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
        if (box && box->objectName() == name) {
            *answered = true;
            box->button(button)->click();
            timer->deleteLater();
        }
    });
    timer->start();
    QTimer::singleShot(10000, timer, &QObject::deleteLater);
}

} // namespace

class TestStudioWindow : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

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
    }

    void theServingTabSearchesOffTheUiThread()
    {
        MainWindow window;
        waitPlanned(window);
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        window.modelPanel()->selectPreset(QStringLiteral("llama-3.1-8b"));
        QVERIFY(shown.wait(20000));
        ServingView* serving = window.servingView();
        window.views()->setCurrentWidget(serving);
        window.resize(1600, 1000);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QCOMPARE(QString::fromStdString(serving->inputs().model.id), QStringLiteral("llama-3.1-8b"));
        QSignalSpy finished(serving, &ServingView::searchFinished);
        serving->startSearch();
        QVERIFY(serving->controller()->busy()); // the search runs on a worker; the UI thread goes on
        QVERIFY(finished.wait(60000));
        const int rows = serving->deploymentCount();
        QVERIFY2(rows > 0, qPrintable(serving->statusText()));
        QCOMPARE(finished.front().front().toInt(), rows);
        QCOMPARE(serving->charts()->paretoPlot()->graph(0)->dataCount(), rows);
        QCOMPARE(serving->table()->model()->index(0, 4).data().toString(), QStringLiteral("met"));
        // The first deployment's distributions, timeline and commands follow.
        QTRY_VERIFY_WITH_TIMEOUT(serving->charts()->latencyPlot()->graph(0)->dataCount() > 0, 20000);
        QCOMPARE(serving->charts()->latencyPlot()->graph(0)->dataCount(), serving->inputs().traffic.requests);
        QCOMPARE(serving->charts()->sloLineCount(), 2);
        QVERIFY(serving->charts()->timelinePlot()->graph(0)->dataCount() > 0);
        QVERIFY2(serving->launchText().startsWith(QStringLiteral("vllm serve ")), qPrintable(serving->launchText()));
        QVERIFY(serving->statusText().contains(QStringLiteral("deployments simulated")));
        const QString shots = QStringLiteral(SHARD_BIN_DIR "/../screenshots");
        QDir().mkpath(shots);
        QVERIFY(window.grab().save(shots + QStringLiteral("/studio-serving.png")));
        window.resize(1366, 768);
        QTest::qWait(50);
        QVERIFY(window.width() <= 1366);
        QVERIFY(window.grab().save(shots + QStringLiteral("/studio-serving-1366.png")));
        // A search can be cancelled; the previous result stays until a new one lands.
        finished.clear();
        serving->startSearch();
        serving->cancelSearch();
        QVERIFY(finished.wait(60000));
        QCOMPARE(serving->statusText(), QStringLiteral("deployment search cancelled"));
        QCOMPARE(serving->deploymentCount(), rows);
    }

    void cudaBackendsAreCheckedOffTheUiThread()
    {
        // The answer must match what backend_info says here: disabled with the reason on a
        // machine without a GPU, selectable on one with.
        const cuda::BackendInfo info = cuda::backend_info();
        RunPanel panel;
        QVERIFY(!panel.cudaChecked());
        QVERIFY(!panel.setBackend(QStringLiteral("cuda"))); // not before the check
        QSignalSpy checked(&panel, &RunPanel::backendsChecked);
        panel.checkCudaBackends();
        QVERIFY(checked.wait(20000));
        QCOMPARE(checked.front().front().toBool(), info.usable());
        QCOMPARE(panel.setBackend(QStringLiteral("cuda-emulated")), info.usable());
        auto* combo = panel.findChild<QComboBox*>(QStringLiteral("runBackend"));
        const QString tip = combo->itemData(1, Qt::ToolTipRole).toString();
        if (!info.usable())
            QVERIFY2(tip.contains(QStringLiteral("Unavailable here: ") + QString::fromStdString(info.reason)),
                     qPrintable(tip));
        QVERIFY(panel.setBackend(QStringLiteral("cpu")));
    }

    void chartsExport_data()
    {
        QTest::addColumn<QString>("suffix");
        QTest::addColumn<QByteArray>("magic");
        QTest::addRow("png") << QStringLiteral("png") << QByteArray("\x89PNG");
        QTest::addRow("pdf") << QStringLiteral("pdf") << QByteArray("%PDF");
        QTest::addRow("svg") << QStringLiteral("svg") << QByteArray("<?xml");
    }

    void chartsExport()
    {
        QFETCH(QString, suffix);
        QFETCH(QByteArray, magic);
        MainWindow window;
        window.resize(1600, 1000);
        window.show();
        waitPlanned(window);
        QTemporaryDir dir;
        const QString costs = dir.filePath(QStringLiteral("costs.") + suffix);
        const QString timeline = dir.filePath(QStringLiteral("timeline.") + suffix);
        window.views()->setCurrentWidget(window.costCharts());
        QVERIFY(window.costCharts()->exportTo(costs));
        const QCustomPlot* a = window.costCharts()->communicationPlot();
        const QCustomPlot* b = window.costCharts()->breakdownPlot();
        const QSize costsSize(2 * (a->width() + b->width()), 2 * std::max(a->height(), b->height()));
        window.views()->setCurrentWidget(window.timeline());
        QVERIFY(window.timeline()->exportTo(timeline));
        const QString layout = dir.filePath(QStringLiteral("layout.") + suffix);
        QVERIFY(window.layoutView()->exportTo(layout));
        for (const QString& path : {costs, timeline, layout}) {
            QFile f(path);
            QVERIFY(f.open(QIODevice::ReadOnly));
            const QByteArray bytes = f.readAll();
            QVERIFY2(bytes.startsWith(magic), qPrintable(path));
            QVERIFY(bytes.size() > 2000);
        }
        if (suffix == QStringLiteral("png")) { // the two cost charts side by side, at 2x
            QCOMPARE(QImage(costs).size(), costsSize);
        }
        QVERIFY(!window.costCharts()->exportTo(dir.filePath(QStringLiteral("costs.bmp")))); // not offered
    }

    void unsavedChangesAreAskedAbout()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("mine.shardplan.json"));
        {
            MainWindow window;
            window.show();
            waitPlanned(window);
            QVERIFY(!window.isModified()); // the defaults it opened on
            QVERIFY(window.close()); // nothing to ask
            window.show();
            window.workloadPanel()->findChild<QSpinBox*>(QStringLiteral("batch"))->setValue(32); // as a user would
            waitPlanned(window);
            QVERIFY(window.isModified());
            QVERIFY(window.isWindowModified());
            bool answered = false;
            answerPrompt(QStringLiteral("unsavedChanges"), QMessageBox::Cancel, &answered);
            QVERIFY(!window.close()); // cancelled: stays open, nothing lost
            QVERIFY(answered);
            QVERIFY(window.isVisible());
            QVERIFY(window.savePlan(path));
            QVERIFY(!window.isModified());
            QVERIFY(window.close());
        }
        MainWindow window;
        window.show();
        waitPlanned(window);
        QVERIFY(window.openPlan(path));
        waitPlanned(window);
        QVERIFY(!window.isModified());
        QCOMPARE(window.workloadPanel()->workload().batch, 32);
        window.workloadPanel()->findChild<QSpinBox*>(QStringLiteral("batch"))->setValue(16);
        waitPlanned(window);
        QVERIFY(window.isModified());
        bool answered = false;
        answerPrompt(QStringLiteral("unsavedChanges"), QMessageBox::Save, &answered); // saves to the file it came from
        QVERIFY(window.close());
        QVERIFY(answered);
        QCOMPARE(load_plan(path.toStdString()).workload.batch, 16);
    }

    void closingDuringARunAsksFirst()
    {
        MainWindow window;
        window.show();
        shard::test::selectTinyTp8(window);
        if (QTest::currentTestFailed())
            return;
        RunPanel* run = window.runPanel();
        QVERIFY(run->setBackend(QStringLiteral("cpu")));
        run->setSteps(400); // long enough to still run when the window closes
        QSignalSpy finished(run, &RunPanel::runFinished);
        QVERIFY(run->start());
        QTRY_VERIFY_WITH_TIMEOUT(run->log().contains(QStringLiteral("Started")), 30000);
        bool answered = false;
        answerPrompt(QStringLiteral("runInProgress"), QMessageBox::Cancel, &answered);
        QVERIFY(!window.close()); // kept open, the run goes on
        QVERIFY(answered);
        QVERIFY(run->running());
        bool discarded = false;
        answerPrompt(QStringLiteral("runInProgress"), QMessageBox::Close, &answered);
        answerPrompt(QStringLiteral("unsavedChanges"), QMessageBox::Discard, &discarded); // tiny-dense was an edit
        QVERIFY(window.close());
        QVERIFY(answered && discarded);
        // The run may have ended inside the prompts' event loops: a spy's wait() would miss it.
        QTRY_VERIFY_WITH_TIMEOUT(!finished.isEmpty(), 30000);
        QCOMPARE(finished.front().front().toString(), QStringLiteral("cancelled"));
    }
};

QTEST_MAIN(TestStudioWindow)
#include "tst_studio_window.moc"
