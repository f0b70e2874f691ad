#pragma once

#include "store/run_store.h"

#include <QWidget>

class QCustomPlot;

namespace shard::ui {

class PlotHover;

// Run over run: time per output token and time to first token of a series of runs in the
// order they ran, measured next to predicted (log scale: a CPU reference run and an H100
// prediction sit orders of magnitude apart).
class RunTrendChart : public QWidget {
    Q_OBJECT

public:
    explicit RunTrendChart(QWidget* parent = nullptr);
    void setRuns(std::vector<RunRecord> runs, const QString& title);
    QCustomPlot* plot() const { return m_plot; }
    int runCount() const { return int(m_runs.size()); }
    // Points drawn in the series named `name` ("TPOT measured"...), for tests.
    int pointCount(const QString& name) const;
    // The hover text at a pixel of the plot: the run, the figure, measured or predicted, unit.
    QString hoverTextAt(const QPointF& pixel) const;

private:
    QCustomPlot* m_plot = nullptr;
    PlotHover* m_hover = nullptr;
    std::vector<RunRecord> m_runs;
};

} // namespace shard::ui
