#include "plot_hover.h"

#include <qcustomplot.h>

#include <QToolTip>

namespace shard::ui {

PlotHover::PlotHover(QCustomPlot* plot, PointText text)
    : QObject(plot)
    , m_plot(plot)
    , m_text(std::move(text))
{
    connect(plot, &QCustomPlot::mouseMove, this, [this](QMouseEvent* event) {
        const QString shown = textAt(event->position());
        if (shown.isEmpty())
            QToolTip::hideText();
        else
            QToolTip::showText(event->globalPosition().toPoint(), shown, m_plot);
    });
}

QString PlotHover::textAt(const QPointF& pixel) const
{
    int index = -1;
    const QCPAbstractPlottable* plottable = m_plot->plottableAt(pixel, false, &index);
    if (!plottable || index < 0)
        return {};
    return m_text(plottable, index);
}

PlotHover* add_hover_text(QCustomPlot* plot, PointText text)
{
    return new PlotHover(plot, std::move(text));
}

namespace {

// (key, value) of a point of a graph or bar series: the two kinds of series the charts hover.
QPointF point_at(const QCPAbstractPlottable* plottable, int index)
{
    if (const auto* graph = qobject_cast<const QCPGraph*>(plottable))
        return {graph->data()->at(index)->key, graph->data()->at(index)->value};
    if (const auto* bars = qobject_cast<const QCPBars*>(plottable))
        return {bars->data()->at(index)->key, bars->data()->at(index)->value};
    return {};
}

} // namespace

double point_key(const QCPAbstractPlottable* plottable, int index)
{
    return point_at(plottable, index).x();
}

double point_value(const QCPAbstractPlottable* plottable, int index)
{
    return point_at(plottable, index).y();
}

} // namespace shard::ui
