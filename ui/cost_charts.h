#pragma once

#include "planner/planner.h"

#include <QWidget>

class QCustomPlot;

namespace shard::ui {

class PlotHover;

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
    // The hover text at a pixel of each chart: what the bar is, its predicted figure and unit.
    QString communicationHoverAt(const QPointF& pixel) const;
    QString breakdownHoverAt(const QPointF& pixel) const;

private:
    void drawCommunication();
    void drawBreakdown();

    PlanResult m_result;
    int m_selected = -1;
    QCustomPlot* m_comm = nullptr;
    QCustomPlot* m_breakdown = nullptr;
    PlotHover* m_commHover = nullptr;
    PlotHover* m_breakdownHover = nullptr;
    std::vector<std::string> m_blocks; // the communication chart's columns
    std::vector<int> m_shown; // the breakdown chart's columns: candidate indices
};

} // namespace shard::ui
