#pragma once

#include <QList>
#include <QSize>
#include <QString>

#include <functional>

class QCPPainter;
class QCustomPlot;
class QWidget;

namespace shard::ui {

// Paints a drawing of `size` pixels into a file by its suffix: .png (at 2x, for sharp text),
// .pdf or .svg (vector). False when the file cannot be written or the suffix is none of those.
bool paint_to_file(const QString& path, QSize size, const std::function<void(QCPPainter&)>& paint);

// Writes one or more plots into one file, side by side or stacked, by the file's suffix:
// .png (2x for sharp text), .pdf and .svg (vector). Returns false when the file cannot be
// written or the suffix is none of those.
bool export_plots(const QList<QCustomPlot*>& plots, const QString& path, Qt::Orientation orientation = Qt::Horizontal);

// Asks for a file (PNG, PDF, SVG) and exports; says so when writing fails.
void export_plots_with_dialog(QWidget* parent, const QList<QCustomPlot*>& plots, const QString& suggested_name,
                              Qt::Orientation orientation = Qt::Horizontal);

// A right-click menu on the plot with "Export this chart…".
void add_export_menu(QCustomPlot* plot, const QString& suggested_name);

} // namespace shard::ui
