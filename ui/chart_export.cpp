#include "chart_export.h"

#include <qcustomplot.h>

#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QPdfWriter>
#include <QSvgGenerator>

#include <memory>

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

bool paint_to_file(const QString& path, QSize size, const std::function<void(QCPPainter&)>& paint)
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == QStringLiteral("png")) {
        const double scale = 2.0; // sharp text when the image is viewed at its size
        QImage image(size * scale, QImage::Format_ARGB32);
        image.fill(Qt::white);
        QCPPainter painter(&image);
        painter.scale(scale, scale);
        paint(painter);
        painter.end();
        return image.save(path, "PNG");
    }
    std::unique_ptr<QPaintDevice> device;
    if (suffix == QStringLiteral("pdf")) {
        auto pdf = std::make_unique<QPdfWriter>(path);
        pdf->setResolution(72); // one point per pixel: the page is the drawing's size
        pdf->setPageSize(QPageSize(QSizeF(size), QPageSize::Point));
        pdf->setPageMargins(QMarginsF(0, 0, 0, 0));
        pdf->setCreator(QStringLiteral("ShardStudio"));
        device = std::move(pdf);
    } else if (suffix == QStringLiteral("svg")) {
        auto svg = std::make_unique<QSvgGenerator>();
        svg->setFileName(path);
        svg->setSize(size);
        svg->setViewBox(QRect(QPoint(0, 0), size));
        svg->setTitle(QStringLiteral("ShardStudio"));
        device = std::move(svg);
    } else {
        return false;
    }
    QCPPainter painter;
    if (!painter.begin(device.get()))
        return false;
    painter.setMode(QCPPainter::pmVectorized);
    painter.setMode(QCPPainter::pmNoCaching);
    paint(painter);
    const bool ok = painter.end();
    device.reset(); // the writers finish the file when they go
    return ok && QFileInfo(path).size() > 0;
}

bool export_plots(const QList<QCustomPlot*>& plots, const QString& path, Qt::Orientation orientation)
{
    if (plots.isEmpty())
        return false;
    return paint_to_file(path, total_size(plots, orientation),
                         [&](QCPPainter& painter) { paint_plots(painter, plots, orientation); });
}

void export_plots_with_dialog(QWidget* parent, const QList<QCustomPlot*>& plots, const QString& suggested_name,
                              Qt::Orientation orientation)
{
    QString path =
        QFileDialog::getSaveFileName(parent, QObject::tr("Export the chart"), suggested_name + QStringLiteral(".png"),
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
