#include "plot_style.h"

#include <qcustomplot.h>

#include <cmath>
#include <cstdlib>

namespace shard::ui {

namespace {

class ReadableLogTicker : public QCPAxisTicker {
protected:
    QVector<double> createTickVector(double tickStep, const QCPRange& range) override
    {
        if (range.lower <= 0 || range.upper <= range.lower)
            return QCPAxisTicker::createTickVector(tickStep, range);
        // Wide ranges: fewer labels a decade (1-2-5 over six decades would crowd the axis).
        const double decades = std::log10(range.upper / range.lower);
        const std::vector<std::vector<double>> choices =
            decades > 5   ? std::vector<std::vector<double>>{{1}}
            : decades > 2 ? std::vector<std::vector<double>>{{1, 3}}
                          : std::vector<std::vector<double>>{{1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
        for (const std::vector<double>& mantissas : choices) {
            QVector<double> ticks;
            for (int decade = int(std::floor(std::log10(range.lower)));
                 decade <= int(std::ceil(std::log10(range.upper))); ++decade)
                for (const double m : mantissas) {
                    const double tick = m * std::pow(10.0, decade);
                    if (tick >= range.lower && tick <= range.upper)
                        ticks << tick;
                }
            if (ticks.size() >= 3)
                return ticks;
        }
        return QCPAxisTicker::createTickVector(tickStep, range);
    }
    int getSubTickCount(double) override { return 0; }
    QString getTickLabel(double tick, const QLocale& locale, QChar, int) override
    {
        return locale.toString(tick, 'g', 6);
    }
};

} // namespace

void use_readable_log_scale(QCPAxis* axis)
{
    axis->setScaleType(QCPAxis::stLogarithmic);
    axis->setTicker(QSharedPointer<QCPAxisTicker>(new ReadableLogTicker));
}

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
