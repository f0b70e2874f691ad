#include "cost_charts.h"
#include "plot_style.h"

#include "chart_export.h"
#include "plot_hover.h"

#include <qcustomplot.h>

#include <QHBoxLayout>

#include <map>

namespace shard::ui {

namespace {

const QColor kKindColors[] = {{0x4e, 0x79, 0xa7}, {0xf2, 0x8e, 0x2b}, {0x59, 0xa1, 0x4f},
                              {0xe1, 0x57, 0x59}, {0xb0, 0x7a, 0xa1}, {0x76, 0xb7, 0xb2}};

QCPBars* stacked_bars(QCustomPlot* plot, const QString& name, const QColor& color, QCPBars* below)
{
    auto* bars = new QCPBars(plot->xAxis, plot->yAxis);
    bars->setName(name);
    bars->setPen(QPen(color.darker(130)));
    bars->setBrush(color);
    bars->setWidth(0.6);
    if (below)
        bars->moveAbove(below);
    return bars;
}

void prepare(QCustomPlot* plot, const QString& title, const QString& y_label)
{
    plot->plotLayout()->insertRow(0);
    auto* heading = new QCPTextElement(plot, title, QFont(QStringLiteral("sans"), 10, QFont::Bold));
    plot->plotLayout()->addElement(0, 0, heading);
    plot->yAxis->setLabel(y_label);
    plot->legend->setVisible(true);
    // Under the chart, never over a bar (the selected one is often the tallest).
    place_legend_below(plot);
}

} // namespace

CostCharts::CostCharts(QWidget* parent)
    : QWidget(parent)
{
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_comm = new QCustomPlot;
    let_layout_shrink(m_comm);
    m_comm->setObjectName(QStringLiteral("communicationPlot"));
    m_breakdown = new QCustomPlot;
    let_layout_shrink(m_breakdown);
    m_breakdown->setObjectName(QStringLiteral("breakdownPlot"));
    prepare(m_comm, tr("Bytes sent per GPU in one decode step, by block and collective (predicted)"),
            tr("MiB per GPU"));
    prepare(m_breakdown, tr("Decode step of the best candidates (predicted)"), tr("ms per decode step"));
    layout->addWidget(m_comm, 1);
    layout->addWidget(m_breakdown, 1);
    add_export_menu(m_comm, QStringLiteral("communication-by-block"));
    add_export_menu(m_breakdown, QStringLiteral("decode-step-breakdown"));
    m_commHover = add_hover_text(m_comm, [this](const QCPAbstractPlottable* bars, int index) {
        const auto block = std::size_t(point_key(bars, index) + 0.5);
        if (block >= m_blocks.size())
            return QString();
        return tr("<b>%1</b> · %2<br>%3 MiB sent per GPU in one decode step (predicted)")
            .arg(QString::fromStdString(m_blocks[block]).toHtmlEscaped(), bars->name().toHtmlEscaped())
            .arg(point_value(bars, index), 0, 'f', 3);
    });
    m_breakdownHover = add_hover_text(m_breakdown, [this](const QCPAbstractPlottable* bars, int index) {
        const auto column = std::size_t(point_key(bars, index) + 0.5);
        if (column >= m_shown.size())
            return QString();
        const Candidate& c = m_result.candidates[std::size_t(m_shown[column])];
        const PhaseCost& d = c.estimate.decode;
        return tr("<b>%1</b>%2<br>compute %3 ms · communication %4 ms · pipeline bubble %5 ms<br>"
                  "one decode step, predicted: %6 % from measured kernel tables, the rest roofline")
            .arg(QString::fromStdString(c.strategy.label()).toHtmlEscaped(),
                 m_shown[column] == m_selected ? tr(" (selected)") : QString())
            .arg(d.compute_ms, 0, 'f', 3)
            .arg(d.comm_ms, 0, 'f', 3)
            .arg(d.bubble_ms, 0, 'f', 3)
            .arg(100.0 * d.measured_share, 0, 'f', 0);
    });
}

QString CostCharts::communicationHoverAt(const QPointF& pixel) const
{
    return m_commHover->textAt(pixel);
}

QString CostCharts::breakdownHoverAt(const QPointF& pixel) const
{
    return m_breakdownHover->textAt(pixel);
}

bool CostCharts::exportTo(const QString& path)
{
    return export_plots({m_comm, m_breakdown}, path, Qt::Horizontal);
}

void CostCharts::setResult(const PlanResult& result)
{
    m_result = result;
    m_selected = -1;
    drawBreakdown();
    drawCommunication();
}

void CostCharts::setSelected(int candidate)
{
    m_selected = candidate;
    drawCommunication();
    drawBreakdown();
}

void CostCharts::drawCommunication()
{
    m_comm->clearPlottables();
    m_blocks.clear();
    const Candidate* c = m_selected >= 0 && m_selected < int(m_result.candidates.size())
                             ? &m_result.candidates[std::size_t(m_selected)]
                             : nullptr;
    if (!c || !c->estimate.feasible) {
        m_comm->replot();
        return;
    }
    // Per block (one of each layer kind), bytes one GPU sends, by collective kind.
    std::vector<std::string>& blocks = m_blocks;
    std::map<std::string, std::map<std::string, double>> by_kind; // kind -> block -> MiB
    for (const auto& block : c->estimate.decode.blocks) {
        if (block.collectives.empty())
            continue;
        blocks.push_back(block.name);
        for (const auto& col : block.collectives)
            by_kind[to_string(col.op)][block.name] += double(col.traffic) / double(1 << 20);
    }
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (std::size_t i = 0; i < blocks.size(); ++i)
        ticker->addTick(double(i), QString::fromStdString(blocks[i] == "dense layer" || blocks[i] == "moe layer"
                                                              ? blocks[i] + " (each)"
                                                              : blocks[i]));
    m_comm->xAxis->setTicker(ticker);
    QCPBars* below = nullptr;
    int color = 0;
    for (const auto& [kind, values] : by_kind) {
        QCPBars* bars = stacked_bars(m_comm, QString::fromStdString(kind), kKindColors[color++ % 6], below);
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            const auto it = values.find(blocks[i]);
            bars->addData(double(i), it == values.end() ? 0.0 : it->second);
        }
        below = bars;
    }
    m_comm->xAxis->setRange(-0.6, double(blocks.size()) - 0.4);
    m_comm->yAxis->rescale();
    m_comm->yAxis->setRangeLower(0);
    m_comm->yAxis->setRangeUpper(std::max(1e-3, m_comm->yAxis->range().upper * 1.2));
    m_comm->replot();
}

void CostCharts::drawBreakdown()
{
    m_breakdown->clearPlottables();
    std::vector<int>& shown = m_shown;
    shown.clear();
    for (std::size_t i = 0; i < m_result.candidates.size() && shown.size() < 10; ++i)
        if (m_result.candidates[i].estimate.feasible)
            shown.push_back(int(i));
    if (m_selected >= 0 && m_selected < int(m_result.candidates.size())
        && m_result.candidates[std::size_t(m_selected)].estimate.feasible
        && std::find(shown.begin(), shown.end(), m_selected) == shown.end())
        shown.push_back(m_selected); // the selection is always on the chart
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (std::size_t i = 0; i < shown.size(); ++i)
        ticker->addTick(double(i), QString::fromStdString(m_result.candidates[std::size_t(shown[i])].strategy.label()));
    m_breakdown->xAxis->setTicker(ticker);
    m_breakdown->xAxis->setTickLabelRotation(35);
    QCPBars* compute = stacked_bars(m_breakdown, tr("compute"), kKindColors[0], nullptr);
    QCPBars* comm = stacked_bars(m_breakdown, tr("communication"), kKindColors[1], compute);
    QCPBars* bubble = stacked_bars(m_breakdown, tr("pipeline bubble"), kKindColors[5], comm);
    for (std::size_t i = 0; i < shown.size(); ++i) {
        const PhaseCost& d = m_result.candidates[std::size_t(shown[i])].estimate.decode;
        compute->addData(double(i), d.compute_ms);
        comm->addData(double(i), d.comm_ms);
        bubble->addData(double(i), d.bubble_ms);
    }
    // The selected candidate's column is outlined.
    const auto it = std::find(shown.begin(), shown.end(), m_selected);
    if (it != shown.end()) {
        const double x = double(it - shown.begin());
        const PhaseCost& d = m_result.candidates[std::size_t(m_selected)].estimate.decode;
        auto* frame = new QCPBars(m_breakdown->xAxis, m_breakdown->yAxis);
        frame->setName(tr("selected"));
        frame->setPen(QPen(QColor(0xe1, 0x57, 0x59), 3));
        frame->setBrush(Qt::NoBrush);
        frame->setWidth(0.7);
        frame->addData(x, d.compute_ms + d.comm_ms + d.bubble_ms);
    }
    m_breakdown->xAxis->setRange(-0.6, double(shown.size()) - 0.4);
    m_breakdown->yAxis->rescale();
    m_breakdown->yAxis->setRangeLower(0);
    m_breakdown->yAxis->setRangeUpper(std::max(1e-3, m_breakdown->yAxis->range().upper * 1.2));
    m_breakdown->replot();
}

} // namespace shard::ui
