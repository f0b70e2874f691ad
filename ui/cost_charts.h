#pragma once

#include "planner/planner.h"

#include <QWidget>

class QCustomPlot;

namespace shard::ui {

// Two predicted-cost charts: the selected candidate's bytes per GPU in one decode step by
// block (per layer kind) and collective kind, stacked; and the decode-step time of the best
// feasible candidates split into compute, communication and pipeline bubble, stacked, the
// selected one outlined.
class CostCharts : public QWidget {
    Q_OBJECT

public:
    explicit CostCharts(QWidget* parent = nullptr);
    void setResult(const PlanResult& result);
    void setSelected(int candidate);
    QCustomPlot* communicationPlot() const { return m_comm; }
    QCustomPlot* breakdownPlot() const { return m_breakdown; }
    bool exportTo(const QString& path); // both charts side by side: .png, .pdf or .svg

private:
    void drawCommunication();
    void drawBreakdown();

    PlanResult m_result;
    int m_selected = -1;
    QCustomPlot* m_comm = nullptr;
    QCustomPlot* m_breakdown = nullptr;
};

} // namespace shard::ui
