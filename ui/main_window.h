#pragma once

#include "planner_controller.h"

#include <QMainWindow>

#include <optional>

class QLabel;
class QLineEdit;
class QMenu;
class QTableView;
class QTabWidget;

namespace shard::ui {

class CandidateDetails;
class CostCharts;
class HistoryView;
class LaunchCommandView;
class ServingView;
class LayoutView;
class RunPanel;
class TimelineView;
class CandidatesFilter;
class CandidatesModel;
class ModelPanel;
class ParetoChart;
class TopologyPanel;
class WorkloadPanel;

// The studio's window: model, topology and workload docks on the left; the ranked
// candidates in the middle, replanned off the UI thread after every edit; the selected
// candidate's details and the Pareto chart below.
class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    bool openPlan(const QString& path);
    bool savePlan(const QString& path);
    // The model, topology, workload or chosen candidate differ from the last plan opened or
    // saved (or from the defaults the window opened on).
    bool isModified() const;
    // Asks to save unsaved changes: true when it is fine to go on (saved or discarded).
    bool maybeSave();
    QString currentPath() const { return m_path; }
    // The candidate selected in the table (index into the model's result), or -1.
    int selectedCandidate() const;
    void selectCandidate(int candidate);

    ModelPanel* modelPanel() const { return m_modelPanel; }
    TopologyPanel* topologyPanel() const { return m_topologyPanel; }
    WorkloadPanel* workloadPanel() const { return m_workloadPanel; }
    PlannerController* planner() const { return m_planner; }
    CandidatesModel* candidatesModel() const { return m_candidates; }
    CandidatesFilter* candidatesFilter() const { return m_filter; }
    QTableView* candidatesView() const { return m_table; }
    CandidateDetails* details() const { return m_details; }
    ParetoChart* pareto() const { return m_pareto; }
    QTabWidget* views() const { return m_views; }
    RunPanel* runPanel() const { return m_run; }
    LaunchCommandView* launchView() const { return m_launch; }
    ServingView* servingView() const { return m_serving; }
    QString fitHintText() const; // empty unless nothing fits
    LayoutView* layoutView() const { return m_layout; }
    CostCharts* costCharts() const { return m_charts; }
    HistoryView* history() const { return m_history; }
    TimelineView* timeline() const { return m_timeline; }

signals:
    // After each planning is shown (tests and benchmarks wait for it).
    void candidatesShown(int candidates);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void buildMenus();
    void scheduleReplan();
    void showPlanningFailure(const QString& message);
    void showPlanned(const PlanResult& result, double milliseconds);
    void selectionChanged();
    void fitTableColumns();
    void addRecent(const QString& path);
    void rebuildRecentMenu();
    std::string snapshot() const; // what "unsaved changes" compares
    void markClean();
    void updateTitle();
    bool saveWithDialog();

    PlannerController* m_planner = nullptr;
    CandidatesModel* m_candidates = nullptr;
    CandidatesFilter* m_filter = nullptr;
    ModelPanel* m_modelPanel = nullptr;
    TopologyPanel* m_topologyPanel = nullptr;
    WorkloadPanel* m_workloadPanel = nullptr;
    QTableView* m_table = nullptr;
    QLineEdit* m_search = nullptr;
    CandidateDetails* m_details = nullptr;
    ParetoChart* m_pareto = nullptr;
    RunPanel* m_run = nullptr;
    LaunchCommandView* m_launch = nullptr;
    ServingView* m_serving = nullptr;
    QLabel* m_fitHint = nullptr;
    LayoutView* m_layout = nullptr;
    CostCharts* m_charts = nullptr;
    HistoryView* m_history = nullptr;
    TimelineView* m_timeline = nullptr;
    QTabWidget* m_views = nullptr;
    QLabel* m_status = nullptr;
    QMenu* m_recent = nullptr;
    bool m_replanQueued = false;
    std::optional<Strategy> m_wanted; // reselect this strategy after the next planning
    QString m_path; // the plan file opened or saved last
    std::string m_saved; // its snapshot
    bool m_baselinePending = true; // take the snapshot once the next planning is shown
};

} // namespace shard::ui
