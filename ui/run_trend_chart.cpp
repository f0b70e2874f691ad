#include "run_trend_chart.h"

#include "chart_export.h"
#include "plot_hover.h"
#include "plot_style.h"

#include <qcustomplot.h>

#include <QVBoxLayout>

namespace shard::ui {

RunTrendChart::RunTrendChart(QWidget* parent)
    : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_plot = new QCustomPlot;
    let_layout_shrink(m_plot);
    m_plot->setObjectName(QStringLiteral("runTrendPlot"));
    layout->addWidget(m_plot);
    m_plot->plotLayout()->insertRow(0);
    m_plot->plotLayout()->addElement(
        0, 0, new QCPTextElement(m_plot, QString(), QFont(QStringLiteral("sans"), 9, QFont::Bold)));
    // TTFT and TPOT share one log axis: a CPU reference run and an H100 prediction sit
    // orders of magnitude apart, and two scales would put unrelated points on top of each other.
    use_readable_log_scale(m_plot->yAxis);
    m_plot->yAxis->setLabel(tr("ms (log scale)"));
    m_plot->legend->setVisible(true);
    m_plot->legend->setFont(QFont(QStringLiteral("sans"), 8));
    place_legend_below(m_plot);
    struct Series {
        QString name;
        QColor color;
        bool predicted;
    };
    const QColor tpot(0x4e, 0x79, 0xa7), ttft(0xf2, 0x8e, 0x2b);
    for (const Series& s : {Series{tr("TPOT measured"), tpot, false}, Series{tr("TPOT predicted"), tpot, true},
                            Series{tr("TTFT measured"), ttft, false}, Series{tr("TTFT predicted"), ttft, true}}) {
        QCPGraph* g = m_plot->addGraph();
        g->setName(s.name);
        g->setPen(QPen(s.color, 2, s.predicted ? Qt::DashLine : Qt::SolidLine));
        g->setScatterStyle(s.predicted ? QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(s.color, 1.5), Qt::white, 7)
                                       : QCPScatterStyle(QCPScatterStyle::ssDisc, s.color, 7));
    }
    m_plot->xAxis->setLabel(tr("run (oldest left)"));
    add_export_menu(m_plot, QStringLiteral("run-over-run"));
    m_hover = add_hover_text(m_plot, [this](const QCPAbstractPlottable* graph, int index) {
        const auto run = std::size_t(point_key(graph, index) + 0.5);
        if (run >= m_runs.size())
            return QString();
        const RunRecord& r = m_runs[run];
        const bool predicted = graph->name().contains(tr("predicted"));
        return tr("<b>run #%1</b> · %2 on %3 (%4 backend)<br>%5: %6 ms<br>%7")
            .arg(r.id)
            .arg(QString::fromStdString(r.strategy).toHtmlEscaped(), QString::fromStdString(r.topology).toHtmlEscaped(),
                 QString::fromStdString(r.backend).toHtmlEscaped(), graph->name().toHtmlEscaped())
            .arg(point_value(graph, index), 0, 'g', 4)
            .arg(predicted               ? tr("predicted by the planner for the plan's GPUs (as the run stored it)")
                 : r.kind == "simulated" ? tr("simulated: the serving simulator's mean over its requests on predicted "
                                              "step times, %1")
                                               .arg(QString::fromStdString(r.started_at).toHtmlEscaped())
                                         : tr("measured by the run on its own machine, started %1")
                                               .arg(QString::fromStdString(r.started_at).toHtmlEscaped()));
    });
    setRuns({}, tr("Run over run: select runs above and press \"Compare selected\" (one run: every run of its plan)."));
}

void RunTrendChart::setRuns(std::vector<RunRecord> runs, const QString& title)
{
    m_runs = std::move(runs);
    qobject_cast<QCPTextElement*>(m_plot->plotLayout()->element(0, 0))->setText(title);
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    std::array<QVector<double>, 4> keys, values;
    for (std::size_t i = 0; i < m_runs.size(); ++i) {
        const RunRecord& r = m_runs[i];
        ticker->addTick(double(i),
                        QStringLiteral("#%1\n%2").arg(r.id).arg(
                            QString::fromStdString(r.started_at).left(16).replace(QLatin1Char('T'), QLatin1Char(' '))));
        const std::optional<double> figures[4] = {r.tpot_ms, r.predicted_tpot_ms, r.ttft_ms, r.predicted_ttft_ms};
        for (std::size_t s = 0; s < 4; ++s)
            if (figures[s] && *figures[s] > 0) { // a failed run may have measured nothing
                keys[s].push_back(double(i));
                values[s].push_back(*figures[s]);
            }
    }
    for (int s = 0; s < 4; ++s)
        m_plot->graph(s)->setData(keys[std::size_t(s)], values[std::size_t(s)], true);
    m_plot->xAxis->setTicker(ticker);
    m_plot->xAxis->setRange(-0.5, std::max<double>(double(m_runs.size()) - 0.5, 0.5));
    bool found = false;
    QCPRange range;
    for (int g = 0; g < 4; ++g) {
        bool f = false;
        const QCPRange r = m_plot->graph(g)->getValueRange(f, QCP::sdPositive);
        if (f)
            range = found ? QCPRange(std::min(range.lower, r.lower), std::max(range.upper, r.upper)) : r;
        found = found || f;
    }
    m_plot->yAxis->setRange(found ? QCPRange(range.lower / 2, range.upper * 2) : QCPRange(0.1, 100));
    m_plot->replot();
}

QString RunTrendChart::hoverTextAt(const QPointF& pixel) const
{
    return m_hover->textAt(pixel);
}

int RunTrendChart::pointCount(const QString& name) const
{
    for (int i = 0; i < m_plot->graphCount(); ++i)
        if (m_plot->graph(i)->name() == name)
            return m_plot->graph(i)->dataCount();
    return -1;
}

} // namespace shard::ui
