#pragma once

#include <QObject>
#include <QPointF>
#include <QString>

#include <functional>

class QCustomPlot;
class QCPAbstractPlottable;

namespace shard::ui {

// What a chart says about one of its data points: the plottable and the point's index in it.
// Empty text: nothing to show for that point.
using PointText = std::function<QString(const QCPAbstractPlottable* plottable, int index)>;

// Hover text for every data point of a chart: the point under the mouse (within the plot's
// selection tolerance) shows its text as a tooltip. One place for every chart, so each point
// says what it is, where it comes from and its unit.
class PlotHover : public QObject {
    Q_OBJECT

public:
    PlotHover(QCustomPlot* plot, PointText text);
    // The text a hover at `pixel` (plot coordinates) shows; empty over no point.
    QString textAt(const QPointF& pixel) const;

private:
    QCustomPlot* m_plot;
    PointText m_text;
};

// Installs the hover on `plot` (owned by it) and returns it.
PlotHover* add_hover_text(QCustomPlot* plot, PointText text);

// Value and key of a point of a graph or bar series, for texts built from them.
double point_key(const QCPAbstractPlottable* plottable, int index);
double point_value(const QCPAbstractPlottable* plottable, int index);

} // namespace shard::ui
