#include "plot_style.h"

#include <qcustomplot.h>

#include <cstdlib>

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

void let_layout_shrink(QCustomPlot* plot)
{
    plot->setMinimumSize(320, 160);
}

QString wrap_title(const QString& title, int columns)
{
    if (title.size() <= columns)
        return title;
    const QString separator = QStringLiteral(" · ");
    qsizetype best = -1;
    for (qsizetype at = title.indexOf(separator); at >= 0; at = title.indexOf(separator, at + 1))
        if (best < 0 || std::abs(at - title.size() / 2) < std::abs(best - title.size() / 2))
            best = at;
    if (best < 0)
        return title;
    return title.left(best) + QLatin1Char('\n') + title.mid(best + separator.size());
}

} // namespace shard::ui
