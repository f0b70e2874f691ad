#pragma once

#include "serving_controller.h"

#include <QTabWidget>

class QCustomPlot;

namespace shard::ui {

class PlotHover;

// The serving charts, all of simulated figures: output tokens/s per GPU against tokens/s per
// user for every deployment searched (the front marked), the TTFT and TPOT distributions of
// the selected one against the SLO, and its KV-cache occupancy and queue over simulated time.
class ServingCharts : public QTabWidget {
    Q_OBJECT

public:
    explicit ServingCharts(QWidget* parent = nullptr);

    void setSearch(const serving::SearchResult& result, int selected);
    void setDetail(const ServingDetail& detail, const serving::Slo& slo);
    void clear();

    QCustomPlot* paretoPlot() const { return m_pareto; }
    QCustomPlot* latencyPlot() const { return m_latency; }
    QCustomPlot* timelinePlot() const { return m_timeline; }
    int sloLineCount() const; // the SLO limits drawn on the distributions

signals:
    void deploymentClicked(int index); // into the search's options

private:
    QCustomPlot* m_pareto = nullptr;
    QCustomPlot* m_latency = nullptr;
    QCustomPlot* m_timeline = nullptr;
    std::vector<int> m_pointOption; // pareto point -> option index
};

} // namespace shard::ui
