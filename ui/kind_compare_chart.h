#pragma once

#include "store/kind_comparison.h"

#include <QWidget>

class QComboBox;
class QCustomPlot;
class QCPAbstractPlottable;

namespace shard::ui {

class PlotHover;

// Stored runs side by side per op kind and per collective kind: what one rank spends on each
// in one decode step, measured (solid bars) next to the planner's prediction for the plan's
// GPUs (hatched). A CPU run and an H100 prediction sit orders of magnitude apart, so the scale
// is logarithmic ms, or each kind's share of its own run's step. Where completed CUDA runs of
// a plan's GPU kind are stored, each predicted bar carries their error band (whiskers from
// the smallest to the largest measured / predicted they showed).
class KindCompareChart : public QWidget {
    Q_OBJECT

public:
    enum class Scale { LogMs, ShareOfStep };

    explicit KindCompareChart(QWidget* parent = nullptr);
    void setRuns(std::vector<RunRecord> runs, std::vector<std::vector<KindComparison>> kinds);
    void clear(); // nothing selected: no bars, no legend, the title says what to do
    void setScale(Scale scale);
    Scale scale() const { return m_scaleMode; }
    QCustomPlot* plot() const { return m_plot; }
    QString title() const;
    // The x axis labels in order ("attention", "AllReduce\n(collective)"...), for tests.
    QStringList kindLabels() const;
    QStringList seriesNames() const;
    QString hoverTextAt(const QPointF& pixel) const;
    int errorBandCount() const; // whiskers drawn, for tests

private:
    void draw();
    QString pointText(const QCPAbstractPlottable* bars, int index) const;

    QCustomPlot* m_plot = nullptr;
    QComboBox* m_scale = nullptr;
    PlotHover* m_hover = nullptr;
    Scale m_scaleMode = Scale::LogMs;
    std::vector<RunRecord> m_runs;
    std::vector<std::vector<KindComparison>> m_kinds; // per run
    std::vector<std::string> m_columns; // kind per x position
    std::vector<bool> m_columnIsCollective;
};

} // namespace shard::ui
