#include "plot_style.h"

#include <qcustomplot.h>

namespace shard::ui {

void place_legend_below(QCustomPlot* plot)
{
    QCPLayoutGrid* layout = plot->plotLayout();
    const int row = layout->rowCount();
    QCPLayoutGrid* holder = new QCPLayoutGrid;
    layout->addElement(row, 0, holder);
    // Only as tall as the legend needs; the axis rect keeps the rest.
    layout->setRowStretchFactor(row, 0.001);
    plot->axisRect()->insetLayout()->take(plot->legend);
    holder->addElement(0, 0, plot->legend);
    holder->setMargins(QMargins(0, 0, 0, 4));
    plot->legend->setFillOrder(QCPLegend::foColumnsFirst);
    plot->legend->setWrap(6);
    plot->legend->setBorderPen(Qt::NoPen);
    plot->legend->setBrush(Qt::NoBrush);
    plot->legend->setMargins(QMargins(4, 0, 4, 0));
}

} // namespace shard::ui
