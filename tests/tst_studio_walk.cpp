// Every tab of the studio walked at the two screen sizes users have (1366x768 and 1600x1000)
// for a feasible and a rejected candidate of three models and a two-node topology: the window
// never grows wider than its screen, and no view shows what an earlier selection drew.
#include "studio_test_support.h"

#include "ui/candidate_details.h"
#include "ui/candidates_filter.h"
#include "ui/cost_charts.h"
#include "ui/launch_command_view.h"
#include "ui/layout_view.h"
#include "ui/pareto_chart.h"
#include "ui/timeline_view.h"
#include "ui/topology_panel.h"

#include <qcustomplot.h>

#include <QDir>
#include <QGraphicsView>
#include <QHeaderView>
#include <QTableView>

using namespace shard;
using namespace shard::ui;

namespace {

void plan(MainWindow& window, const char* model, const char* topology)
{
    QSignalSpy shown(&window, &MainWindow::candidatesShown);
    window.topologyPanel()->selectPreset(QString::fromLatin1(topology));
    window.modelPanel()->selectPreset(QString::fromLatin1(model));
    QTRY_VERIFY_WITH_TIMEOUT(!window.planner()->busy() && !shown.isEmpty(), 60000);
}

// The last candidate in table order that is feasible (or not): the table has to scroll to it.
int lastInTable(const MainWindow& window, bool feasible)
{
    const QAbstractItemModel* table = window.candidatesView()->model();
    for (int row = table->rowCount() - 1; row >= 0; --row) {
        const int candidate = window.candidatesFilter()->mapToSource(table->index(row, 0)).row();
        if (window.candidatesModel()->candidate(candidate)->estimate.feasible == feasible)
            return candidate;
    }
    return -1;
}

// The innermost widgets that ask for more than `width` px: what to fix when the window grows.
QString widestWidgets(const QWidget* root, int width)
{
    QStringList names;
    for (const QWidget* w : root->findChildren<QWidget*>()) {
        if (!w->isVisibleTo(root) && !w->parentWidget()->inherits("QStackedWidget"))
            continue;
        if (w->minimumSizeHint().width() <= width && w->minimumWidth() <= width)
            continue;
        bool inner = true;
        for (const QWidget* child : w->findChildren<QWidget*>(Qt::FindDirectChildrenOnly))
            inner = inner && std::max(child->minimumSizeHint().width(), child->minimumWidth()) <= width;
        if (inner)
            names << QStringLiteral("%1 \"%2\" (%3 px)")
                         .arg(QString::fromLatin1(w->metaObject()->className()), w->objectName())
                         .arg(std::max(w->minimumSizeHint().width(), w->minimumWidth()));
    }
    return names.join(QStringLiteral(", "));
}

QString timelineHeading(const MainWindow& window)
{
    auto* heading = qobject_cast<QCPTextElement*>(window.timeline()->predictedPlot()->plotLayout()->element(0, 0));
    return heading ? heading->text() : QString();
}

} // namespace

class TestStudioWalk : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QCoreApplication::setOrganizationName(QStringLiteral("ShardStudioTests"));
        QSettings().clear();
    }

    void everyTabShowsTheSelection_data()
    {
        QTest::addColumn<QSize>("screen");
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("topology");
        for (const QSize screen : {QSize(1366, 768), QSize(1600, 1000)})
            for (const auto& [model, topology] :
                 {std::pair{"llama-3.1-70b", "dgx-h100"}, std::pair{"deepseek-v3", "4x-dgx-h100"},
                  std::pair{"llama-3.1-8b", "dgx-h100"}, std::pair{"llama-3.1-70b", "2x-dgx-h100"}})
                QTest::addRow("%dx%d %s on %s", screen.width(), screen.height(), model, topology)
                    << screen << QString::fromLatin1(model) << QString::fromLatin1(topology);
    }

    void everyTabShowsTheSelection()
    {
        QFETCH(QSize, screen);
        QFETCH(QString, model);
        QFETCH(QString, topology);
        MainWindow window;
        window.resize(screen);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        plan(window, model.toLatin1().constData(), topology.toLatin1().constData());
        const QString shots = QStringLiteral(SHARD_BIN_DIR "/../screenshots/walk");
        QDir().mkpath(shots);
        for (const bool feasible : {true, false}) {
            const int candidate = lastInTable(window, feasible);
            if (candidate < 0) {
                QVERIFY2(feasible == false, "every model here has a feasible layout");
                continue; // nothing rejected for this model and topology
            }
            window.selectCandidate(candidate);
            const Candidate& c = *window.candidatesModel()->candidate(candidate);
            const QString label = QString::fromStdString(c.strategy.label());
            QTableView* table = window.candidatesView();
            // Every column header readable, the reason's included.
            QHeaderView* header = table->horizontalHeader();
            for (int column = 0; column < header->count(); ++column)
                QVERIFY2(header->sectionSize(column) >= header->sectionSizeHint(column),
                         qPrintable(window.candidatesModel()->headerData(column, Qt::Horizontal).toString()));
            // The table scrolled to the selection.
            const QModelIndex row =
                window.candidatesFilter()->mapFromSource(window.candidatesModel()->index(candidate, 0));
            QVERIFY2(table->viewport()->rect().intersects(table->visualRect(row)), qPrintable(label));
            for (int tab = 0; tab < window.views()->count(); ++tab) {
                window.views()->setCurrentIndex(tab);
                QCoreApplication::processEvents();
                const QString where =
                    QStringLiteral("%1, %2 (%3), tab %4")
                        .arg(model, label, feasible ? QStringLiteral("feasible") : QStringLiteral("rejected"),
                             window.views()->tabText(tab));
                // The views share the space right of the docks: none may ask for more.
                const int viewsWidth = window.views()->width();
                QVERIFY2(window.width() <= screen.width() && window.minimumSizeHint().width() <= screen.width(),
                         qPrintable(where
                                    + QStringLiteral(": window %1 px, minimum %2 px; too wide: %3")
                                          .arg(window.width())
                                          .arg(window.minimumSizeHint().width())
                                          .arg(widestWidgets(&window, viewsWidth))));
            }
            window.views()->setCurrentWidget(window.layoutView());
            QCoreApplication::processEvents();
            QVERIFY(window.grab().save(QStringLiteral("%1/%2x%3-%4-%5.png")
                                           .arg(shots)
                                           .arg(screen.width())
                                           .arg(screen.height())
                                           .arg(model + QLatin1Char('-') + topology,
                                                feasible ? QStringLiteral("feasible") : QStringLiteral("rejected"))));
            // Each view draws this candidate, not the one before.
            const QStringList layoutTitles = window.layoutView()->texts(QStringLiteral("title"));
            QVERIFY2(!layoutTitles.isEmpty() && layoutTitles.front().startsWith(label),
                     qPrintable(layoutTitles.join(QLatin1Char('|'))));
            QVERIFY2(window.details()->text().contains(label), qPrintable(label));
            QCOMPARE(window.pareto()->selectedPointCount(), feasible ? 1 : 0);
            window.views()->setCurrentWidget(window.timeline());
            QCoreApplication::processEvents();
            const QString heading = timelineHeading(window);
            QVERIFY2(feasible ? heading.contains(label) : heading.contains(QStringLiteral("Rejected by the planner")),
                     qPrintable(heading));
            QCOMPARE(window.costCharts()->communicationPlot()->plottableCount() > 0, feasible);
            QCOMPARE(window.launchView()->command().isEmpty(), !feasible);
            if (feasible) {
                QVERIFY(window.layoutView()->count(QStringLiteral("tile")) > 0);
                // Hover texts name the candidate, its figure and where it comes from.
                QCustomPlot* pareto = window.pareto()->plot();
                window.views()->setCurrentWidget(window.pareto());
                QCoreApplication::processEvents();
                pareto->replot();
                const double memory = double(c.estimate.memory.total()) / double(1ull << 30);
                const QPointF at(pareto->xAxis->coordToPixel(memory),
                                 pareto->yAxis->coordToPixel(pareto_latency_ms(c.estimate, Objective::TPOT)));
                const QString hover = window.pareto()->hoverTextAt(at);
                QVERIFY2(hover.contains(label.toHtmlEscaped()) && hover.contains(QStringLiteral("predicted")),
                         qPrintable(hover));
            } else {
                QCOMPARE(window.layoutView()->count(QStringLiteral("tile")), 0);
                QCOMPARE(window.layoutView()->texts(QStringLiteral("rejected")).size(), 1);
            }
        }
        // Several nodes: every node box inside the view's width, without scrolling.
        if (window.planner()->inputs().topology.nodes > 1) {
            window.views()->setCurrentWidget(window.layoutView());
            window.selectCandidate(lastInTable(window, true));
            QCoreApplication::processEvents();
            auto* view = window.layoutView()->findChild<QGraphicsView*>(QStringLiteral("layoutView"));
            QVERIFY(view);
            // The drawing opens at its title, not scrolled to its centre.
            const QList<QRectF> titles = window.layoutView()->rects(QStringLiteral("title"));
            QCOMPARE(titles.size(), 1);
            QVERIFY(view->viewport()->rect().contains(view->mapFromScene(titles.front()).boundingRect().topLeft()));
            const QList<QRectF> nodes = window.layoutView()->rects(QStringLiteral("node"));
            QCOMPARE(nodes.size(), std::min(window.planner()->inputs().topology.nodes, 8));
            for (const QRectF& node : nodes) {
                const QRect shown = view->mapFromScene(node).boundingRect();
                QVERIFY2(shown.left() >= -2 && shown.right() <= view->viewport()->width() + 2, // the pen's width
                         qPrintable(QStringLiteral("node drawn at x %1-%2 of a %3 px view")
                                        .arg(shown.left())
                                        .arg(shown.right())
                                        .arg(view->viewport()->width())));
            }
        }
    }
};

QTEST_MAIN(TestStudioWalk)
#include "tst_studio_walk.moc"
