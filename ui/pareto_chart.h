#pragma once

#include "planner/planner.h"

#include <QWidget>

class QCustomPlot;
class QCPGraph;
class QCPAbstractPlottable;

namespace shard::ui {

class PlotHover;

// Latency against memory per GPU for every feasible candidate (predicted), the Pareto
// front joined, the selected candidate ringed. Clicking a point selects its candidate;
// hovering one names it with its predicted figures.
class ParetoChart : public QWidget {
    Q_OBJECT

public:
    explicit ParetoChart(QWidget* parent = nullptr);
    void setResult(const PlanResult& result, Objective objective);
    void setSelected(int candidate); // index into result.candidates, -1 for none
    QCustomPlot* plot() const { return m_plot; }
    int pointCount() const;
    int selectedPointCount() const;
    // The hover text at a pixel of the plot: the candidate, its predicted figures and units.
    QString hoverTextAt(const QPointF& pixel) const;
    bool exportTo(const QString& path); // .png, .pdf or .svg by suffix

signals:
    void candidateClicked(int candidate);

private:
    QString pointText(const QCPAbstractPlottable* plottable, int index) const;

    QCustomPlot* m_plot = nullptr;
    PlotHover* m_hover = nullptr;
    QCPGraph* m_all = nullptr;
    QCPGraph* m_front = nullptr;
    QCPGraph* m_selected = nullptr;
    std::vector<int> m_indices; // point -> candidate
    PlanResult m_result;
    Objective m_objective = Objective::TPOT;
};

} // namespace shard::ui
