#include "kind_compare_chart.h"

#include "chart_export.h"
#include "plot_hover.h"
#include "plot_style.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>

#include <algorithm>
#include <set>

namespace shard::ui {

namespace {

const QColor kColors[] = {QColor(0x4e, 0x79, 0xa7), QColor(0xf2, 0x8e, 0x2b), QColor(0x59, 0xa1, 0x4f),
                          QColor(0xe1, 0x57, 0x59), QColor(0xb0, 0x7a, 0xa1), QColor(0x76, 0xb7, 0xb2)};

const KindComparison* find_kind(const std::vector<KindComparison>& kinds, const std::string& name)
{
    const auto it = std::find_if(kinds.begin(), kinds.end(), [&](const KindComparison& k) { return k.kind == name; });
    return it == kinds.end() ? nullptr : &*it;
}

QCPTextElement* title_element(QCustomPlot* plot)
{
    return qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0));
}

} // namespace

KindCompareChart::KindCompareChart(QWidget* parent)
    : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto* bar = new QHBoxLayout;
    m_scale = new QComboBox;
    m_scale->setObjectName(QStringLiteral("kindCompareScale"));
    m_scale->addItem(tr("ms per decode step, log scale"));
    m_scale->addItem(tr("share of each run's decode step (%)"));
    m_scale->setToolTip(tr("A CPU run and a GPU prediction differ by orders of magnitude: compare them on a log "
                           "scale, or compare the shape of each step"));
    bar->addWidget(new QLabel(tr("Scale:")));
    bar->addWidget(m_scale);
    bar->addStretch(1);
    layout->addLayout(bar);
    m_plot = new QCustomPlot;
    let_layout_shrink(m_plot);
    m_plot->setObjectName(QStringLiteral("historyPlot"));
    m_plot->plotLayout()->insertRow(0);
    m_plot->plotLayout()->addElement(
        0, 0, new QCPTextElement(m_plot, QString(), QFont(QStringLiteral("sans"), 9, QFont::Bold)));
    m_plot->legend->setFont(QFont(QStringLiteral("sans"), 8));
    place_legend_below(m_plot);
    m_plot->legend->setWrap(4); // two runs, measured and predicted, to a row
    layout->addWidget(m_plot, 1);
    add_export_menu(m_plot, QStringLiteral("runs-per-op-kind"));
    m_hover =
        add_hover_text(m_plot, [this](const QCPAbstractPlottable* bars, int index) { return pointText(bars, index); });
    connect(m_scale, &QComboBox::currentIndexChanged, this,
            [this](int index) { setScale(index == 1 ? Scale::ShareOfStep : Scale::LogMs); });
    clear();
}

void KindCompareChart::setRuns(std::vector<RunRecord> runs, std::vector<std::vector<KindComparison>> kinds)
{
    m_runs = std::move(runs);
    m_kinds = std::move(kinds);
    m_kinds.resize(m_runs.size());
    // Columns: the ops of every run, then the collectives, each by name.
    std::set<std::string> ops, collectives;
    for (const auto& run : m_kinds)
        for (const auto& k : run)
            (k.collective ? collectives : ops).insert(k.kind);
    m_columns.assign(ops.begin(), ops.end());
    m_columnIsCollective.assign(m_columns.size(), false);
    m_columns.insert(m_columns.end(), collectives.begin(), collectives.end());
    m_columnIsCollective.resize(m_columns.size(), true);
    draw();
}

void KindCompareChart::clear()
{
    setRuns({}, {});
}

void KindCompareChart::setScale(Scale scale)
{
    m_scaleMode = scale;
    if (m_scale->currentIndex() != (scale == Scale::ShareOfStep ? 1 : 0))
        m_scale->setCurrentIndex(scale == Scale::ShareOfStep ? 1 : 0);
    draw();
}

QString KindCompareChart::title() const
{
    return title_element(m_plot)->text();
}

QStringList KindCompareChart::kindLabels() const
{
    QStringList labels;
    if (auto* ticker = dynamic_cast<QCPAxisTickerText*>(m_plot->xAxis->ticker().data()))
        for (const QString& label : ticker->ticks())
            labels << label;
    return labels;
}

QStringList KindCompareChart::seriesNames() const
{
    QStringList names;
    for (int i = 0; i < m_plot->plottableCount(); ++i)
        names << m_plot->plottable(i)->name();
    return names;
}

QString KindCompareChart::hoverTextAt(const QPointF& pixel) const
{
    return m_hover->textAt(pixel);
}

int KindCompareChart::errorBandCount() const
{
    int count = 0;
    for (int i = 0; i < m_plot->itemCount(); ++i)
        count += m_plot->item(i)->objectName() == QLatin1String("errorBand") ? 1 : 0;
    return count;
}

void KindCompareChart::draw()
{
    m_plot->clearPlottables();
    m_plot->clearItems();
    const bool share = m_scaleMode == Scale::ShareOfStep;
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (std::size_t c = 0; c < m_columns.size(); ++c) {
        bool modeled = false;
        for (const auto& run : m_kinds)
            if (const KindComparison* k = find_kind(run, m_columns[c]))
                modeled = modeled || k->modeled;
        const QString note = !m_columnIsCollective[c] ? QString()
                             : modeled                ? tr("\n(collective, modeled)")
                                                      : tr("\n(collective)");
        ticker->addTick(double(c), QString::fromStdString(m_columns[c]) + note);
    }
    m_plot->xAxis->setTicker(ticker);
    if (m_runs.empty()) {
        title_element(m_plot)->setText(
            tr("Per op and collective kind: select runs above and press \"Compare selected\""));
        m_plot->legend->setVisible(false);
        m_plot->xAxis->setRange(-0.6, 0.6);
        m_plot->yAxis->setScaleType(QCPAxis::stLinear);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        m_plot->yAxis->setRange(0, 1);
        m_plot->yAxis->setLabel(QString());
        m_plot->replot();
        return;
    }
    m_plot->legend->setVisible(true);
    const double width = 0.8 / double(2 * m_runs.size());
    double lowest = 0, highest = 0;
    for (std::size_t i = 0; i < m_runs.size(); ++i) {
        const RunRecord& r = m_runs[i];
        const KindShares shares = decode_shares(m_kinds[i]);
        for (const bool predicted : {false, true}) {
            auto* bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
            const QColor color = kColors[i % 6];
            bars->setPen(QPen(color.darker(120)));
            bars->setBrush(predicted ? QBrush(color, Qt::BDiagPattern) : QBrush(color));
            bars->setWidth(width);
            // The run, and where its figure comes from; the hover gives the rest.
            bars->setName(predicted ? tr("#%1 predicted (%2)").arg(r.id).arg(QString::fromStdString(r.topology))
                                    : tr("#%1 measured (%2)").arg(r.id).arg(QString::fromStdString(r.backend)));
            const double offset = -0.4 + width * (2.0 * double(i) + (predicted ? 1.5 : 0.5));
            for (std::size_t c = 0; c < m_columns.size(); ++c) {
                const auto& kinds = m_kinds[i];
                const auto it = std::find_if(kinds.begin(), kinds.end(),
                                             [&](const KindComparison& k) { return k.kind == m_columns[c]; });
                if (it == kinds.end() || (predicted && !it->predicted_ms))
                    continue;
                const auto at = std::size_t(it - kinds.begin());
                const double value = share ? 100.0 * (predicted ? shares.predicted[at] : shares.measured[at])
                                           : (predicted ? *it->predicted_ms : it->measured_ms);
                if (value <= 0)
                    continue; // nothing to draw on a log axis; the hover of its neighbour says so
                bars->addData(double(c) + offset, value);
                lowest = lowest > 0 ? std::min(lowest, value) : value;
                highest = std::max(highest, value);
                if (predicted && it->band_low_ms && it->band_high_ms) {
                    // The spread stored CUDA runs of this GPU kind measured around such a
                    // prediction, on the same scale as the bar.
                    const double low = value * *it->band_low_ms / *it->predicted_ms;
                    const double high = value * *it->band_high_ms / *it->predicted_ms;
                    auto* band = new QCPItemLine(m_plot);
                    band->setObjectName(QStringLiteral("errorBand"));
                    band->setPen(QPen(color.darker(160), 1.5));
                    band->setHead(QCPLineEnding(QCPLineEnding::esBar, 6));
                    band->setTail(QCPLineEnding(QCPLineEnding::esBar, 6));
                    band->start->setCoords(double(c) + offset, low);
                    band->end->setCoords(double(c) + offset, high);
                    lowest = std::min(lowest, low);
                    highest = std::max(highest, high);
                }
            }
        }
    }
    title_element(m_plot)->setText(
        errorBandCount() > 0
            ? tr("One decode step of one rank: solid measured, hatched predicted for the plan's GPUs, whiskers the "
                 "spread of stored CUDA runs")
            : tr("One decode step of one rank, per op and collective kind: solid bars measured on each run's machine, "
                 "hatched bars predicted for its plan's GPUs"));
    m_plot->xAxis->setRange(-0.6, double(m_columns.size()) - 0.4);
    if (share) {
        m_plot->yAxis->setScaleType(QCPAxis::stLinear);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        m_plot->yAxis->setLabel(tr("share of the step (%)"));
        m_plot->yAxis->setRange(0, std::max(1.0, highest * 1.15));
    } else {
        use_readable_log_scale(m_plot->yAxis);
        m_plot->yAxis->setLabel(tr("ms per rank and step (log)"));
        m_plot->yAxis->setRange(lowest > 0 ? lowest / 2 : 1e-3, highest > 0 ? highest * 2 : 1.0);
    }
    m_plot->replot();
}

QString KindCompareChart::pointText(const QCPAbstractPlottable* bars, int index) const
{
    const auto column = std::size_t(point_key(bars, index) + 0.5);
    int series = -1;
    for (int i = 0; i < m_plot->plottableCount(); ++i)
        if (m_plot->plottable(i) == bars)
            series = i;
    const auto run = std::size_t(series / 2);
    if (series < 0 || column >= m_columns.size() || run >= m_runs.size())
        return {};
    const bool predicted = series % 2 == 1;
    const KindComparison* k = find_kind(m_kinds[run], m_columns[column]);
    if (!k)
        return {};
    const KindShares shares = decode_shares(m_kinds[run]);
    const auto at = std::size_t(k - m_kinds[run].data());
    const RunRecord& r = m_runs[run];
    const double ms = predicted ? k->predicted_ms.value_or(0.0) : k->measured_ms;
    const double percent = 100.0 * (predicted ? shares.predicted[at] : shares.measured[at]);
    const QString source =
        // Ops carry the prediction the run recorded; collectives are priced again from the
        // stored plan, by this build's cost model.
        predicted ? (k->collective ? tr("predicted for %1 from the run's stored plan by this build's cost model")
                                   : tr("predicted for %1 when the run was made, as the run recorded it"))
                        .arg(QString::fromStdString(r.topology).toHtmlEscaped())
        : k->modeled ? tr("modeled by the cost model (emulated ranks on %1), not a clock")
                           .arg(QString::fromStdString(r.backend).toHtmlEscaped())
                     : tr("measured on the %1 backend").arg(QString::fromStdString(r.backend).toHtmlEscaped());
    QString band;
    if (predicted && k->band_low_ms && k->band_high_ms && k->calibrated_ms)
        band = tr("<br>error band: %1 completed CUDA run(s) of this GPU kind measured %2 - %3 ms for such a "
                  "prediction; calibrated prediction %4 ms (shardstudio-cli history calibration)")
                   .arg(k->band_runs)
                   .arg(*k->band_low_ms, 0, 'g', 4)
                   .arg(*k->band_high_ms, 0, 'g', 4)
                   .arg(*k->calibrated_ms, 0, 'g', 4);
    return tr("<b>run #%1</b> · %2<br>%3%4: %5 ms per decode step per rank, %6 % of the step<br>%7%8")
        .arg(r.id)
        .arg(QString::fromStdString(r.strategy).toHtmlEscaped(), QString::fromStdString(k->kind).toHtmlEscaped(),
             k->collective ? tr(" (collective)") : QString())
        .arg(ms, 0, 'g', 4)
        .arg(percent, 0, 'f', 1)
        .arg(source, band);
}

} // namespace shard::ui
