#pragma once

#include "core/plan.h"
#include "core/step_timeline.h"
#include "cost/estimate.h"

#include <QWidget>

#include <array>
#include <optional>

class QComboBox;
class QCustomPlot;
class QLabel;
class QPushButton;
class QSplitter;

namespace shard::ui {

class GanttBars;

// One step as a Gantt chart per device: the planner's prediction on top, a stored run's
// measurement below, each on its own time axis (a CPU run and an H100 prediction differ by
// orders of magnitude). It follows what was picked last: the selected candidate (predicted
// only) or a run from the Run tab or History (its plan predicted, and measured). Hovering a
// span names the op, layer, duration and whether it was predicted, measured or modeled.
class TimelineView : public QWidget {
    Q_OBJECT

public:
    explicit TimelineView(QWidget* parent = nullptr);

    // The selected candidate (nullopt: none). A run of another plan stops being shown.
    void showPlan(const std::optional<Plan>& plan, const Estimate* estimate);
    // Reads a run off the UI thread; `runShown` follows.
    void showRun(const QString& database, qint64 run);
    void setDecode(bool decode);
    bool decode() const;
    qint64 shownRun() const { return m_run; }
    QCustomPlot* predictedPlot() const { return m_predictedPlot; }
    QCustomPlot* measuredPlot() const { return m_measuredPlot; }
    // Spans and rows of the shown (or, on a hidden tab, the next shown) step.
    int predictedSpanCount() const;
    int measuredSpanCount() const;
    QStringList predictedRows() const;
    QStringList measuredRows() const;
    // What a hover at `pixel` of one of the two plots shows (empty over no span).
    QString describeAt(QCustomPlot* plot, const QPointF& pixel) const;
    bool exportTo(const QString& path);

protected:
    void showEvent(QShowEvent* event) override;

signals:
    // After a run's timelines are drawn, or why they could not be (error non-empty).
    void runShown(qint64 run, const QString& error);

private:
    using PhasePair = std::array<StepTimeline, 2>; // [prefill, decode]
    void redraw();
    void redrawIfVisible();
    // What the two plots show (or will, once visible): a run of another plan brings its own
    // prediction.
    bool runReplacesPlan() const;
    const StepTimeline* currentPredicted() const;
    const StepTimeline* currentMeasured() const; // nullptr without a run
    void draw(QCustomPlot* plot, const StepTimeline* timeline, const QString& title, const QString& empty_text);
    const StepTimeline* drawnTimeline(QCustomPlot* plot) const;

    QComboBox* m_phase = nullptr;
    QLabel* m_source = nullptr;
    QPushButton* m_backToCandidate = nullptr;
    QCustomPlot* m_predictedPlot = nullptr;
    QCustomPlot* m_measuredPlot = nullptr;
    QSplitter* m_split = nullptr;

    std::optional<Plan> m_plan; // the selected candidate's
    QString m_rejection; // why the planner rejected it, when it did
    PhasePair m_planTimeline;

    qint64 m_run = 0;
    QString m_runTitle;
    std::optional<Plan> m_runPlan;
    PhasePair m_runPredicted;
    PhasePair m_runMeasured;
    QString m_runError;
    quint64 m_generation = 0;
    bool m_stale = true; // redraw when next shown: a hidden tab costs nothing per selection

    StepTimeline m_drawnPredicted;
    StepTimeline m_drawnMeasured;
};

} // namespace shard::ui
