#pragma once

#include <qcustomplot.h>

#include <vector>

namespace shard::ui {

// Horizontal bars on rows, drawn in one pass: a Gantt chart's series. Thousands of spans
// (every op of an 80-layer step) stay cheap where one QCPItemRect each would not. Keys are
// time on the key axis, rows are integers on the value axis.
class GanttBars : public QCPAbstractPlottable {
public:
    struct Bar {
        double start = 0;
        double duration = 0;
        int row = 0;
        int tag = 0; // the caller's index of what the bar stands for
    };

    GanttBars(QCPAxis* time_axis, QCPAxis* row_axis);

    void setBars(std::vector<Bar> bars);
    const std::vector<Bar>& bars() const { return m_bars; }
    // Fraction of a row's height the bars take, and their centre's offset from the row.
    void setThickness(double fraction, double offset = 0);
    // The bar under a pixel of the plot, or nullptr.
    const Bar* barAt(const QPointF& pixel) const;

    double selectTest(const QPointF& pos, bool onlySelectable, QVariant* details = nullptr) const override;
    QCPRange getKeyRange(bool& foundRange, QCP::SignDomain inSignDomain = QCP::sdBoth) const override;
    QCPRange getValueRange(bool& foundRange, QCP::SignDomain inSignDomain = QCP::sdBoth,
                           const QCPRange& inKeyRange = QCPRange()) const override;

protected:
    void draw(QCPPainter* painter) override;
    void drawLegendIcon(QCPPainter* painter, const QRectF& rect) const override;

private:
    QRectF pixelRect(const Bar& bar) const;

    std::vector<Bar> m_bars;
    double m_thickness = 0.7;
    double m_offset = 0;
};

} // namespace shard::ui
