#include "main_window.h"

#include "cost/perf_db.h"

#include "about_dialog.h"
#include "candidate_details.h"
#include "candidates_filter.h"
#include "candidates_model.h"
#include "chart_export.h"
#include "cost_charts.h"
#include "history_view.h"
#include "launch_command_view.h"
#include "layout_view.h"
#include "model_panel.h"
#include "pareto_chart.h"
#include "run_panel.h"
#include "run_trend_chart.h"
#include "serving_view.h"
#include "timeline_view.h"
#include "topology_panel.h"
#include "workload_panel.h"

#include "core/error.h"
#include "core/model_json.h"
#include "core/presets.h"
#include "planner/planner.h"

#include <QAction>
#include <QCheckBox>
#include <QCloseEvent>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QScreen>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTableView>
#include <QTabWidget>
#include <QTimer>
#include <QVBoxLayout>

namespace shard::ui {

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent)
{
    updateTitle();
    setObjectName(QStringLiteral("ShardStudioMainWindow"));
    m_planner = new PlannerController(this);
    m_candidates = new CandidatesModel(this);
    m_filter = new CandidatesFilter(this);
    m_filter->setSourceModel(m_candidates);

    // Left: what to plan for.
    m_modelPanel = new ModelPanel;
    m_topologyPanel = new TopologyPanel;
    m_workloadPanel = new WorkloadPanel;
    auto dock = [this](QWidget* panel, const QString& title, const QString& name) {
        auto* d = new QDockWidget(title, this);
        d->setObjectName(name);
        // On a short screen the three panels share too little height: each scrolls rather
        // than squeezing its rows into each other.
        auto* scroll = new QScrollArea;
        scroll->setWidget(panel);
        scroll->setWidgetResizable(true);
        scroll->setFrameShape(QFrame::NoFrame);
        scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
        // As wide as the panel needs, with room for the scroll bar when it shows.
        scroll->setMinimumWidth(panel->minimumSizeHint().width() + scroll->verticalScrollBar()->sizeHint().width());
        d->setWidget(scroll);
        d->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable
                       | QDockWidget::DockWidgetClosable);
        addDockWidget(Qt::LeftDockWidgetArea, d);
        return d;
    };
    dock(m_modelPanel, tr("Model"), QStringLiteral("modelDock"));
    dock(m_topologyPanel, tr("Topology"), QStringLiteral("topologyDock"));
    dock(m_workloadPanel, tr("Workload"), QStringLiteral("workloadDock"));

    // Middle: the candidates.
    auto* top = new QWidget;
    auto* topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(4, 4, 4, 0);
    auto* bar = new QHBoxLayout;
    m_search = new QLineEdit;
    m_search->setPlaceholderText(tr("Filter by strategy or mesh (e.g. TP8, pp=2, SUMMA)"));
    m_search->setClearButtonEnabled(true);
    auto* feasible = new QCheckBox(tr("Feasible only"));
    bar->addWidget(m_search, 1);
    bar->addWidget(feasible);
    topLayout->addLayout(bar);
    m_fitHint = new QLabel;
    m_fitHint->setObjectName(QStringLiteral("fitHint"));
    m_fitHint->setWordWrap(true);
    m_fitHint->setStyleSheet(QStringLiteral("color: #8a5a00;"));
    m_fitHint->hide();
    topLayout->addWidget(m_fitHint);
    m_table = new QTableView;
    m_table->setObjectName(QStringLiteral("candidatesView"));
    m_table->setModel(m_filter);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(CandidatesModel::Rank, Qt::AscendingOrder);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setAlternatingRowColors(true);
    m_table->verticalHeader()->hide();
    m_table->verticalHeader()->setDefaultSectionSize(22);
    m_table->setTextElideMode(Qt::ElideRight);
    topLayout->addWidget(m_table);

    m_views = new QTabWidget;
    m_details = new CandidateDetails;
    m_pareto = new ParetoChart;
    m_layout = new LayoutView;
    m_views->addTab(m_layout, tr("Layout"));
    m_views->addTab(m_details, tr("Details"));
    m_views->addTab(m_pareto, tr("Pareto: latency vs memory"));
    m_charts = new CostCharts;
    m_views->addTab(m_charts, tr("Cost charts"));
    m_timeline = new TimelineView;
    m_views->addTab(m_timeline, tr("Timeline"));
    m_run = new RunPanel;
    m_views->addTab(m_run, tr("Run"));
    m_launch = new LaunchCommandView;
    m_views->addTab(m_launch, tr("Launch command"));
    m_serving = new ServingView;
    m_views->addTab(m_serving, tr("Serving"));
    m_history = new HistoryView;
    m_views->addTab(m_history, tr("History"));
    auto* split = new QSplitter(Qt::Vertical);
    split->addWidget(top);
    split->addWidget(m_views);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    setCentralWidget(split);

    m_status = new QLabel;
    // A long message (a failed import, a long plan name) is cut here, never widens the window.
    m_status->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    statusBar()->addWidget(m_status, 1);
    buildMenus();

    connect(m_search, &QLineEdit::textChanged, m_filter, &QSortFilterProxyModel::setFilterFixedString);
    connect(feasible, &QCheckBox::toggled, m_filter, &CandidatesFilter::setFeasibleOnly);
    connect(m_modelPanel, &ModelPanel::modelChanged, this, &MainWindow::scheduleReplan);
    connect(m_topologyPanel, &TopologyPanel::topologyChanged, this, &MainWindow::scheduleReplan);
    connect(m_workloadPanel, &WorkloadPanel::workloadChanged, this, &MainWindow::scheduleReplan);
    connect(m_planner, &PlannerController::started, this, [this] { m_status->setText(tr("Planning…")); });
    connect(m_planner, &PlannerController::planned, this, &MainWindow::showPlanned);
    connect(m_planner, &PlannerController::failed, this, &MainWindow::showPlanningFailure);
    connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this, &MainWindow::selectionChanged);
    connect(m_pareto, &ParetoChart::candidateClicked, this, &MainWindow::selectCandidate);
    connect(m_run, &RunPanel::runFinished, m_history, &HistoryView::refresh);
    connect(m_run, &RunPanel::runFinished, this, [this] {
        if (m_run->runId() > 0) // measured next to predicted, whatever became of the run
            m_timeline->showRun(m_run->database(), m_run->runId());
    });
    connect(m_history, &HistoryView::timelineRequested, this, [this](const QString& database, qint64 run) {
        m_timeline->showRun(database, run);
        m_views->setCurrentWidget(m_timeline);
    });
    connect(m_views, &QTabWidget::currentChanged, this, [this](int index) {
        if (m_views->widget(index) == m_history)
            m_history->refresh();
    });

    // A sensible default: the CLI's defaults (Llama-3.1-70B on one DGX H100, batch 8,
    // prompt 2048, 256 generated tokens).
    Workload workload;
    workload.batch = 8;
    workload.prompt = 2048;
    workload.generate = 256;
    m_workloadPanel->setWorkload(workload);
    m_topologyPanel->selectPreset(QString::fromLatin1(PresetLibrary::kDefaultTopology));
    m_modelPanel->selectPreset(QString::fromLatin1(PresetLibrary::kDefaultModel));

    QSettings settings;
    // 1600 x 1000, or the screen where it is smaller: never wider than the screen.
    const QSize preferred(1600, 1000);
    resize(screen() ? preferred.boundedTo(screen()->availableGeometry().size()) : preferred);
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
}

MainWindow::~MainWindow() = default;

void MainWindow::buildMenus()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open plan…"), QKeySequence::Open, this, [this] {
        if (!maybeSave())
            return;
        const QString path =
            QFileDialog::getOpenFileName(this, tr("Open a plan"), {}, tr("ShardStudio plans (*.shardplan.json)"));
        if (!path.isEmpty())
            openPlan(path);
    });
    file->addAction(tr("&Save plan"), QKeySequence::Save, this, [this] {
        if (m_path.isEmpty())
            saveWithDialog();
        else
            savePlan(m_path);
    });
    file->addAction(tr("Save plan &as…"), QKeySequence::SaveAs, this, &MainWindow::saveWithDialog);
    m_recent = file->addMenu(tr("Open &recent"));
    rebuildRecentMenu();
    file->addAction(tr("&Export the charts of this tab…"), this, [this] {
        QWidget* tab = m_views->currentWidget();
        if (tab == m_pareto)
            export_plots_with_dialog(this, {m_pareto->plot()}, QStringLiteral("pareto"));
        else if (tab == m_charts)
            export_plots_with_dialog(this, {m_charts->communicationPlot(), m_charts->breakdownPlot()},
                                     QStringLiteral("cost-charts"));
        else if (tab == m_timeline)
            export_plots_with_dialog(this, {m_timeline->predictedPlot(), m_timeline->measuredPlot()},
                                     QStringLiteral("timeline"), Qt::Vertical);
        else if (tab == m_history)
            export_plots_with_dialog(this, {m_history->comparePlot(), m_history->trendChart()->plot()},
                                     QStringLiteral("run-comparison"));
        else if (tab == m_layout) {
            QString path =
                QFileDialog::getSaveFileName(this, tr("Export the layout"), QStringLiteral("layout.png"),
                                             tr("PNG image (*.png);;PDF document (*.pdf);;SVG drawing (*.svg)"));
            if (!path.isEmpty() && !m_layout->exportTo(path))
                QMessageBox::warning(this, tr("Export failed"),
                                     tr("Could not write %1 (use .png, .pdf or .svg)").arg(path));
        } else
            QMessageBox::information(
                this, tr("Nothing to export"),
                tr("This tab has no chart. The Layout, Pareto, Cost charts, Timeline and History tabs do."));
    });
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (QDockWidget* d : findChildren<QDockWidget*>())
        view->addAction(d->toggleViewAction());
    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About ShardStudio"), this, [this] { AboutDialog(this).exec(); });
}

void MainWindow::scheduleReplan()
{
    // Edits arrive in bursts (a preset sets many fields): plan once per event-loop turn.
    if (m_replanQueued)
        return;
    m_replanQueued = true;
    QTimer::singleShot(0, this, [this] {
        m_replanQueued = false;
        m_planner->replan({m_modelPanel->model(), m_topologyPanel->topology(), m_workloadPanel->workload(),
                           m_topologyPanel->tableSource()});
        // The Serving tab deploys what the studio plans for.
        const Workload w = m_workloadPanel->workload();
        m_serving->setDeploymentBase(m_modelPanel->model(), m_topologyPanel->topology(), w.dtype, w.kv_dtype,
                                     m_topologyPanel->tableSource());
    });
}

void MainWindow::showPlanned(const PlanResult& result, double milliseconds)
{
    std::optional<Strategy> keep = m_wanted;
    if (!keep) {
        if (const Candidate* c = m_candidates->candidate(selectedCandidate()))
            keep = c->strategy;
    }
    m_wanted.reset();
    m_candidates->setResult(result);
    m_pareto->setResult(result, m_planner->inputs().workload.objective);
    m_charts->setResult(result);
    int select = result.candidates.empty() ? -1 : 0;
    for (std::size_t i = 0; keep && i < result.candidates.size(); ++i)
        if (result.candidates[i].strategy == *keep)
            select = int(i);
    selectCandidate(select);
    if (m_baselinePending)
        markClean();
    fitTableColumns();
    m_fitHint->setVisible(result.feasible == 0);
    m_fitHint->setText(
        result.feasible == 0
            ? tr("No layout fits: %1.").arg(QString::fromStdString(describe_fit_hints(m_planner->fitHints())))
            : QString());
    const auto& in = m_planner->inputs();
    m_status->setText(tr("%1 on %2: %3 candidates, %4 feasible, planned in %5 ms. All figures are predicted, %6.")
                          .arg(QString::fromStdString(in.model.name), QString::fromStdString(in.topology.name))
                          .arg(result.candidates.size())
                          .arg(result.feasible)
                          .arg(milliseconds, 0, 'f', 1)
                          .arg(m_topologyPanel->sourceSummary()));
    emit candidatesShown(int(result.candidates.size()));
}

void MainWindow::fitTableColumns()
{
    // Every row counts (a rejected candidate's reason sits at the bottom of the table), every
    // header stays readable, and a long reason is cut at a width that leaves the figures in
    // view: its tooltip has it whole.
    QHeaderView* header = m_table->horizontalHeader();
    header->setResizeContentsPrecision(-1);
    m_table->resizeColumnsToContents(); // each column as wide as its widest cell and its header
    const int reason = std::min(header->sectionSize(CandidatesModel::Reason), 420);
    int others = 0;
    for (int c = 0; c < header->count(); ++c)
        others += c == CandidatesModel::Reason ? 0 : header->sectionSize(c);
    // The reason takes what is left of the view, never less than it needs up to the cap.
    header->resizeSection(CandidatesModel::Reason, std::max(reason, m_table->viewport()->width() - others));
}

void MainWindow::showPlanningFailure(const QString& message)
{
    // Nothing of the previous inputs may stay on screen as if it answered these.
    m_wanted.reset();
    const PlanResult none;
    m_candidates->setResult(none);
    m_pareto->setResult(none, m_planner->inputs().workload.objective);
    m_charts->setResult(none);
    selectCandidate(-1);
    m_fitHint->setText(tr("Nothing was planned: %1").arg(message));
    m_fitHint->setVisible(true);
    m_status->setText(tr("Planning failed: %1").arg(message));
}

QString MainWindow::fitHintText() const
{
    return m_fitHint->isVisibleTo(this) ? m_fitHint->text() : QString();
}

int MainWindow::selectedCandidate() const
{
    const auto rows = m_table->selectionModel()->selectedRows();
    return rows.isEmpty() ? -1 : m_filter->mapToSource(rows.front()).row();
}

void MainWindow::selectCandidate(int candidate)
{
    const QModelIndex source = m_candidates->index(candidate, 0);
    const QModelIndex index = m_filter->mapFromSource(source);
    if (!index.isValid()) {
        m_table->clearSelection();
        selectionChanged();
        return;
    }
    m_table->selectionModel()->select(index, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    m_table->scrollTo(index);
}

void MainWindow::selectionChanged()
{
    const int candidate = selectedCandidate();
    const Candidate* c = m_candidates->candidate(candidate);
    m_details->showCandidate(c, m_planner->inputs().topology);
    m_layout->showCandidate(c, m_planner->inputs().model, m_planner->inputs().topology);
    m_pareto->setSelected(candidate);
    m_charts->setSelected(candidate);
    const auto& in = m_planner->inputs();
    const std::optional<Plan> plan =
        c ? std::optional<Plan>(make_plan(in.model, in.topology, in.workload, *c)) : std::nullopt;
    m_run->setPlan(c && c->estimate.feasible ? plan : std::nullopt);
    m_timeline->showPlan(plan, c ? &c->estimate : nullptr);
    m_launch->setPlan(plan);
    updateTitle();
}

bool MainWindow::openPlan(const QString& path)
{
    try {
        const Plan plan = load_plan(path.toStdString());
        m_wanted = plan.strategy;
        m_workloadPanel->setWorkload(plan.workload);
        m_topologyPanel->setTopology(plan.topology);
        m_modelPanel->setModel(plan.model);
        scheduleReplan();
        addRecent(path);
        m_path = path;
        m_baselinePending = true; // clean once the plan's candidate is selected again
        updateTitle();
        return true;
    } catch (const Error& e) {
        QMessageBox::warning(this, tr("Cannot open the plan"), QString::fromUtf8(e.what()));
        return false;
    }
}

bool MainWindow::savePlan(const QString& path)
{
    const Candidate* c = m_candidates->candidate(selectedCandidate());
    if (!c) {
        m_status->setText(tr("Select a candidate to save it as a plan."));
        return false;
    }
    try {
        const auto& in = m_planner->inputs();
        const Plan plan = make_plan(in.model, in.topology, in.workload, *c);
        save_plan(plan, path.toStdString());
        addRecent(path);
        m_path = path;
        markClean();
        m_status->setText(tr("Saved %1").arg(path));
        return true;
    } catch (const Error& e) {
        QMessageBox::warning(this, tr("Cannot save the plan"), QString::fromUtf8(e.what()));
        return false;
    }
}

void MainWindow::addRecent(const QString& path)
{
    QSettings settings;
    QStringList recent = settings.value(QStringLiteral("recentPlans")).toStringList();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > 8)
        recent.removeLast();
    settings.setValue(QStringLiteral("recentPlans"), recent);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu()
{
    m_recent->clear();
    const QStringList recent = QSettings().value(QStringLiteral("recentPlans")).toStringList();
    for (const QString& path : recent)
        m_recent
            ->addAction(QFileInfo(path).fileName(), this,
                        [this, path] {
                            if (maybeSave())
                                openPlan(path);
                        })
            ->setToolTip(path);
    m_recent->setEnabled(!recent.isEmpty());
}

std::string MainWindow::snapshot() const
{
    OrderedJson j;
    j["model"] = model_to_json(m_modelPanel->model());
    j["topology"] = topology_to_json(m_topologyPanel->topology());
    j["workload"] = workload_to_json(m_workloadPanel->workload());
    if (const Candidate* c = m_candidates->candidate(selectedCandidate()))
        j["strategy"] = strategy_to_json(c->strategy, m_modelPanel->model().layers);
    return j.dump();
}

void MainWindow::markClean()
{
    m_baselinePending = false;
    m_saved = snapshot();
    updateTitle();
}

bool MainWindow::isModified() const
{
    return !m_baselinePending && snapshot() != m_saved;
}

void MainWindow::updateTitle()
{
    const QString name = m_path.isEmpty() ? tr("untitled plan") : QFileInfo(m_path).fileName();
    setWindowTitle(tr("ShardStudio — %1[*]").arg(name));
    setWindowModified(isModified());
}

bool MainWindow::saveWithDialog()
{
    const QString path = QFileDialog::getSaveFileName(this, tr("Save the selected candidate as a plan"), m_path,
                                                      tr("ShardStudio plans (*.shardplan.json)"));
    if (path.isEmpty())
        return false;
    return savePlan(path.endsWith(QStringLiteral(".shardplan.json")) ? path : path + QStringLiteral(".shardplan.json"));
}

bool MainWindow::maybeSave()
{
    if (!isModified())
        return true;
    const QString what = m_path.isEmpty()
                             ? tr("This plan has not been saved yet.")
                             : tr("The model, topology, workload or chosen candidate changed since %1 was saved.")
                                   .arg(QFileInfo(m_path).fileName());
    QMessageBox box(QMessageBox::Warning, tr("Unsaved changes"), what,
                    QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, this);
    box.setObjectName(QStringLiteral("unsavedChanges"));
    box.setInformativeText(tr("Save the selected candidate as a plan before going on?"));
    box.setDefaultButton(QMessageBox::Save);
    switch (box.exec()) {
    case QMessageBox::Save:
        return m_path.isEmpty() ? saveWithDialog() : savePlan(m_path);
    case QMessageBox::Discard:
        return true;
    default:
        return false;
    }
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    if (m_run->running()) {
        QMessageBox box(QMessageBox::Question, tr("A run is in progress"),
                        tr("Closing the studio cancels the run; it is kept in the history as cancelled with what it "
                           "measured so far."),
                        QMessageBox::Close | QMessageBox::Cancel, this);
        box.setObjectName(QStringLiteral("runInProgress"));
        box.setDefaultButton(QMessageBox::Cancel);
        if (box.exec() != QMessageBox::Close) {
            event->ignore();
            return;
        }
        m_run->cancel(); // the CLI stores it as cancelled on its way out
    }
    if (!maybeSave()) {
        event->ignore();
        return;
    }
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    event->accept();
}

} // namespace shard::ui
