#include "chart_export.h"

#include <qcustomplot.h>

#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QPdfWriter>
#include <QSvgGenerator>

namespace shard::ui {

namespace {

QSize total_size(const QList<QCustomPlot*>& plots, Qt::Orientation orientation)
{
    QSize size(0, 0); // QSize() is -1 x -1
    for (const QCustomPlot* p : plots) {
        if (orientation == Qt::Horizontal)
            size = QSize(size.width() + p->width(), std::max(size.height(), p->height()));
        else
            size = QSize(std::max(size.width(), p->width()), size.height() + p->height());
    }
    return size;
}

void paint_plots(QCPPainter& painter, const QList<QCustomPlot*>& plots, Qt::Orientation orientation)
{
    QPoint at;
    for (QCustomPlot* p : plots) {
        painter.save();
        painter.translate(at);
        p->toPainter(&painter, p->width(), p->height());
        painter.restore();
        at += orientation == Qt::Horizontal ? QPoint(p->width(), 0) : QPoint(0, p->height());
    }
}

} // namespace

bool export_plots(const QList<QCustomPlot*>& plots, const QString& path, Qt::Orientation orientation)
{
    if (plots.isEmpty())
        return false;
    const QSize size = total_size(plots, orientation);
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == QStringLiteral("png")) {
        const double scale = 2.0;
        QImage image(size * scale, QImage::Format_ARGB32);
        image.fill(Qt::white);
        QCPPainter painter(&image);
        painter.scale(scale, scale);
        paint_plots(painter, plots, orientation);
        painter.end();
        return image.save(path, "PNG");
    }
    if (suffix == QStringLiteral("pdf")) {
        QPdfWriter pdf(path);
        pdf.setResolution(72); // one point per pixel: the page is the charts' size
        pdf.setPageSize(QPageSize(QSizeF(size), QPageSize::Point));
        pdf.setPageMargins(QMarginsF(0, 0, 0, 0));
        pdf.setCreator(QStringLiteral("ShardStudio"));
        QCPPainter painter;
        if (!painter.begin(&pdf))
            return false;
        painter.setMode(QCPPainter::pmVectorized);
        painter.setMode(QCPPainter::pmNoCaching);
        paint_plots(painter, plots, orientation);
        return painter.end() && QFileInfo(path).size() > 0;
    }
    if (suffix == QStringLiteral("svg")) {
        QSvgGenerator svg;
        svg.setFileName(path);
        svg.setSize(size);
        svg.setViewBox(QRect(QPoint(0, 0), size));
        svg.setTitle(QStringLiteral("ShardStudio chart"));
        QCPPainter painter;
        if (!painter.begin(&svg))
            return false;
        painter.setMode(QCPPainter::pmVectorized);
        paint_plots(painter, plots, orientation);
        return painter.end() && QFileInfo(path).size() > 0;
    }
    return false;
}

void export_plots_with_dialog(QWidget* parent, const QList<QCustomPlot*>& plots, const QString& suggested_name,
                              Qt::Orientation orientation)
{
    QString path = QFileDialog::getSaveFileName(parent, QObject::tr("Export the chart"), suggested_name + QStringLiteral(".png"),
                                                QObject::tr("PNG image (*.png);;PDF document (*.pdf);;SVG drawing (*.svg)"));
    if (path.isEmpty())
        return;
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix != QStringLiteral("png") && suffix != QStringLiteral("pdf") && suffix != QStringLiteral("svg"))
        path += QStringLiteral(".png");
    if (!export_plots(plots, path, orientation))
        QMessageBox::warning(parent, QObject::tr("Export failed"), QObject::tr("Could not write %1").arg(path));
}

void add_export_menu(QCustomPlot* plot, const QString& suggested_name)
{
    plot->setContextMenuPolicy(Qt::CustomContextMenu);
    QObject::connect(plot, &QWidget::customContextMenuRequested, plot, [plot, suggested_name](const QPoint& pos) {
        QMenu menu(plot);
        menu.addAction(QObject::tr("Export this chart…"), plot,
                       [plot, suggested_name] { export_plots_with_dialog(plot, {plot}, suggested_name); });
        menu.exec(plot->mapToGlobal(pos));
    });
}

} // namespace shard::ui
