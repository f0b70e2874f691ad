#pragma once

#include "planner/planner.h"

#include <QWidget>

class QCustomPlot;
class QCPGraph;

namespace shard::ui {

// Latency against memory per GPU for every feasible candidate (predicted), the Pareto
// front joined, the selected candidate ringed. Clicking a point selects its candidate.
class ParetoChart : public QWidget {
    Q_OBJECT

public:
    explicit ParetoChart(QWidget* parent = nullptr);
    void setResult(const PlanResult& result, Objective objective);
    void setSelected(int candidate); // index into result.candidates, -1 for none
    QCustomPlot* plot() const { return m_plot; }
    int pointCount() const;
    int selectedPointCount() const;
    bool exportTo(const QString& path); // .png, .pdf or .svg by suffix

signals:
    void candidateClicked(int candidate);

private:
    QCustomPlot* m_plot = nullptr;
    QCPGraph* m_all = nullptr;
    QCPGraph* m_front = nullptr;
    QCPGraph* m_selected = nullptr;
    std::vector<int> m_indices; // point -> candidate
    PlanResult m_result;
    Objective m_objective = Objective::TPOT;
};

} // namespace shard::ui
