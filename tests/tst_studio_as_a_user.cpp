// The studio as a careful new user finds it: what the model drop-down names after an
// import, what a rejected candidate and a failed planning leave on screen, the launch
// command, the hint when nothing fits, the save prompt, Help > About.
#include "studio_test_support.h"

#include "ui/about_dialog.h"
#include "ui/candidate_details.h"
#include "ui/candidates_model.h"
#include "ui/launch_command_view.h"
#include "ui/layout_view.h"
#include "ui/timeline_view.h"
#include "ui/topology_panel.h"

#include <qcustomplot.h>

#include "core/hf_import.h"
#include "shard/version.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QMessageBox>
#include <QTimer>

using namespace shard;
using namespace shard::ui;

namespace {

// Plans model on the window's topology and waits for the candidates.
void planModel(MainWindow& window, const char* id)
{
    QSignalSpy shown(&window, &MainWindow::candidatesShown);
    window.modelPanel()->selectPreset(QString::fromLatin1(id));
    QTRY_VERIFY_WITH_TIMEOUT(!window.planner()->busy() && !shown.isEmpty(), 20000);
}

int firstRejected(const MainWindow& window)
{
    for (int i = 0; i < window.candidatesModel()->rowCount(); ++i)
        if (!window.candidatesModel()->candidate(i)->estimate.feasible)
            return i;
    return -1;
}

} // namespace

class TestStudioAsAUser : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QCoreApplication::setOrganizationName(QStringLiteral("ShardStudioTests"));
        QSettings().clear();
    }

    void importedConfigIsWhatTheDropDownNames()
    {
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
        auto* presets = window.modelPanel()->findChild<QComboBox*>(QStringLiteral("modelPreset"));
        QVERIFY(presets);
        QVERIFY(window.modelPanel()->importConfig(QStringLiteral(SHARD_TEST_FIXTURES "/hf/mistral-7b.json")));
        QCOMPARE(presets->currentText(), QString::fromStdString(window.modelPanel()->model().name));
        QVERIFY(presets->currentText() != QStringLiteral("Llama 3.1 70B"));
        // Back to a preset: the imported entry goes, the preset is named.
        QVERIFY(window.modelPanel()->selectPreset(QStringLiteral("llama-3.1-8b")));
        QCOMPARE(presets->currentData().toString(), QStringLiteral("llama-3.1-8b"));
        const std::string imported = import_hf_config_file(SHARD_TEST_FIXTURES "/hf/mistral-7b.json").name;
        QCOMPARE(presets->findText(QString::fromStdString(imported)), -1);
    }

    void launchCommandFollowsTheSelection()
    {
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
        LaunchCommandView* launch = window.launchView();
        QVERIFY(launch->selectEngine(QStringLiteral("vllm")));
        const Candidate* best = window.candidatesModel()->candidate(window.selectedCandidate());
        QVERIFY(best && best->estimate.feasible);
        QVERIFY2(launch->command().startsWith(QStringLiteral("vllm serve")), qPrintable(launch->command()));
        QVERIFY(
            launch->command().contains(QStringLiteral("--tensor-parallel-size %1").arg(best->strategy.tensor_size())));
        launch->copyToClipboard();
        QCOMPARE(QApplication::clipboard()->text(), launch->command());
        QVERIFY(launch->selectEngine(QStringLiteral("sglang")));
        QVERIFY2(launch->command().contains(QStringLiteral("sglang")), qPrintable(launch->command()));
        // A rejected candidate has no command, and says why.
        const int rejected = firstRejected(window);
        QVERIFY(rejected >= 0);
        window.selectCandidate(rejected);
        QCOMPARE(launch->command(), QString());
        QVERIFY2(launch->notes().contains(QStringLiteral("is not feasible")), qPrintable(launch->notes()));
    }

    void rejectedCandidateIsShownAsRejected()
    {
        MainWindow window;
        window.resize(1600, 1000);
        window.show();
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
        const int rejected = firstRejected(window);
        QVERIFY(rejected >= 0);
        window.selectCandidate(rejected);
        const Candidate* c = window.candidatesModel()->candidate(rejected);
        const QString reason = QString::fromStdString(c->estimate.reason);
        // Layout: the reason, no tiles or collectives of a layout nothing was priced for.
        QCOMPARE(window.layoutView()->texts(QStringLiteral("rejected")).size(), 1);
        QVERIFY(window.layoutView()->texts(QStringLiteral("rejected")).front().contains(reason));
        QCOMPARE(window.layoutView()->count(QStringLiteral("tile")), 0);
        QCOMPARE(window.layoutView()->count(QStringLiteral("collective")), 0);
        // Details: no "0 B" memory for a layout rejected before its memory was priced.
        const QString details = window.details()->text();
        QVERIFY2(details.contains(reason), qPrintable(details));
        if (c->estimate.memory.total() == 0)
            QVERIFY2(details.contains(QStringLiteral("not predicted")) && !details.contains(QStringLiteral("0 B of")),
                     qPrintable(details));
        // Timeline: the planner's own reason, not "does not fit".
        window.views()->setCurrentWidget(window.timeline());
        QCoreApplication::processEvents();
        auto* heading = qobject_cast<QCPTextElement*>(window.timeline()->predictedPlot()->plotLayout()->element(0, 0));
        QVERIFY(heading);
        QVERIFY2(heading->text().contains(QStringLiteral("Rejected by the planner")), qPrintable(heading->text()));
    }

    void nothingFitsSaysWhatWould()
    {
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
        QCOMPARE(window.fitHintText(), QString());
        planModel(window, "llama-3.1-405b"); // 810 GB of bf16 weights on 8 x 80 GB
        QCOMPARE(window.candidatesModel()->feasibleCount(), 0);
        QVERIFY2(window.fitHintText().contains(QStringLiteral("fp8 weights and KV cache")),
                 qPrintable(window.fitHintText()));
        QVERIFY2(window.fitHintText().contains(QStringLiteral("2 nodes (16 GPUs")), qPrintable(window.fitHintText()));
    }

    void failedPlanningLeavesNoStaleCandidates()
    {
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
        QVERIFY(window.candidatesModel()->rowCount() > 0);
        // tiny-dense holds 256 tokens; the default workload asks for 2048 + 256.
        QSignalSpy failed(window.planner(), &PlannerController::failed);
        window.modelPanel()->selectPreset(QStringLiteral("tiny-dense"));
        QVERIFY(failed.wait(20000));
        QCOMPARE(window.candidatesModel()->rowCount(), 0);
        QCOMPARE(window.selectedCandidate(), -1);
        QVERIFY2(window.fitHintText().contains(QStringLiteral("exceed the context")), qPrintable(window.fitHintText()));
    }

    void savePromptOfANeverSavedPlan()
    {
        MainWindow window;
        QSignalSpy shown(&window, &MainWindow::candidatesShown);
        QVERIFY(shown.wait(20000));
        planModel(window, "llama-3.1-8b");
        QString prompt;
        QTimer::singleShot(0, &window, [&] {
            if (auto* box = window.findChild<QMessageBox*>(QStringLiteral("unsavedChanges"))) {
                prompt = box->text();
                box->reject();
            }
        });
        window.close();
        QVERIFY2(prompt.contains(QStringLiteral("has not been saved yet")), qPrintable(prompt));
        QVERIFY2(!prompt.contains(QStringLiteral("since")), qPrintable(prompt));
    }

    void aboutNamesTheVersionAndLicenses()
    {
        const AboutDialog about;
        const QString text = about.text();
        QVERIFY2(text.contains(QStringLiteral("ShardStudio ") + QString::fromLatin1(kVersion)), qPrintable(text));
        for (const char* part : {"QCustomPlot: GPL v3", "Qt 6: LGPL v3", "SQLite: public domain", "Predicted"})
            QVERIFY2(text.contains(QString::fromLatin1(part)), part);
    }
};

QTEST_MAIN(TestStudioAsAUser)
#include "tst_studio_as_a_user.moc"
