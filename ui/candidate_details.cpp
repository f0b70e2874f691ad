#include "candidate_details.h"

#include "core/units.h"
#include "cost/perf_db.h"

#include <QTextBrowser>
#include <QVBoxLayout>

namespace shard::ui {

namespace {

QString htmlBytes(double value)
{
    return QString::fromStdString(format_bytes(value)).toHtmlEscaped();
}

} // namespace

CandidateDetails::CandidateDetails(QWidget* parent)
    : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_text = new QTextBrowser;
    m_text->setObjectName(QStringLiteral("candidateDetails"));
    layout->addWidget(m_text);
    showCandidate(nullptr, {});
}

QString CandidateDetails::text() const
{
    return m_text->toPlainText();
}

void CandidateDetails::showCandidate(const Candidate* c, const Topology& topology)
{
    if (!c) {
        m_text->setHtml(tr("<p style='color:gray'>Select a candidate to see its memory, time and communication "
                           "(all predicted: measured kernel tables where the GPU kind has them, the "
                           "roofline elsewhere).</p>"));
        return;
    }
    const Estimate& e = c->estimate;
    QString html;
    html += QStringLiteral("<h3>%1 <span style='color:gray'>(%2) on %3</span></h3>")
                .arg(QString::fromStdString(c->strategy.label()).toHtmlEscaped(),
                     QString::fromStdString(c->strategy.mesh_text()).toHtmlEscaped(),
                     QString::fromStdString(topology.name).toHtmlEscaped());
    if (!e.feasible)
        html += QStringLiteral("<p style='color:#c0392b'><b>Rejected:</b> %1</p>")
                    .arg(QString::fromStdString(e.reason).toHtmlEscaped());
    const MemoryBreakdown& m = e.memory;
    if (m.total() == 0) {
        // Rejected on a rule (a split that does not divide...) before any byte was priced.
        html += tr("<p><b>Memory per GPU</b>: not predicted, the layout was rejected before its memory was "
                   "priced.</p>");
        m_text->setHtml(html);
        return;
    }
    html += tr("<p><b>Memory per GPU (predicted)</b>: %1 of %2</p>")
                .arg(htmlBytes(double(m.total())), htmlBytes(double(m.capacity)));
    html += QStringLiteral("<table cellspacing=6>");
    auto mem = [&](const QString& what, std::int64_t value) {
        const double share = m.capacity > 0 ? 100.0 * double(value) / double(m.capacity) : 0.0;
        html +=
            QStringLiteral("<tr><td>%1</td><td align=right>%2</td><td align=right style='color:gray'>%3 %</td></tr>")
                .arg(what, htmlBytes(double(value)))
                .arg(share, 0, 'f', 1);
    };
    mem(tr("weights"), m.weights);
    mem(tr("KV cache (full context)"), m.kv_cache);
    mem(tr("activations"), m.activations);
    mem(tr("gathered weight blocks"), m.gathered_weights);
    mem(tr("communication buffers"), m.comm_buffers);
    mem(tr("runtime reserve"), m.runtime_reserve);
    html += QStringLiteral("</table>");
    if (e.feasible) {
        auto phase = [&](const QString& name, const PhaseCost& p) {
            html += tr("<p><b>%1 (predicted)</b>: %2 ms = compute %3 ms + communication %4 ms + pipeline bubble %5 ms; "
                       "%6 sent per GPU; %7 % of the busiest GPU's time from measured tables</p>")
                        .arg(name, QString::number(p.time_ms, 'f', 3), QString::number(p.compute_ms, 'f', 3),
                             QString::number(p.comm_ms, 'f', 3), QString::number(p.bubble_ms, 'f', 3),
                             htmlBytes(double(p.traffic_per_device)))
                        .arg(100.0 * p.measured_share, 0, 'f', 0);
        };
        html +=
            tr("<p style='color:gray'>Predicted from: %1.</p>").arg(QString::fromStdString(e.source).toHtmlEscaped());
        phase(tr("Prefill (TTFT)"), e.prefill);
        phase(tr("Decode step (TPOT)"), e.decode);
        html += tr("<p><b>Collectives of one decode step, per block (predicted)</b></p>");
        html +=
            tr("<table cellspacing=6><tr><th align=left>block</th><th align=left>op</th><th align=left>collective</th>"
               "<th align=left>group</th><th align=right>payload</th><th align=right>calls</th><th "
               "align=right>µs</th><th align=left>source</th></tr>");
        for (const auto& block : e.decode.blocks)
            for (const auto& col : block.collectives)
                html += QStringLiteral("<tr><td>%1</td><td>%2</td><td>%3</td><td>%4 x%5%6</td><td align=right>%7</td>"
                                       "<td align=right>%8</td><td align=right>%9</td><td>%10</td></tr>")
                            .arg(QString::fromStdString(block.name), QString::fromStdString(col.name),
                                 QString::fromStdString(to_string(col.op)), QString::fromStdString(col.axis))
                            .arg(col.group)
                            .arg(col.cross_node ? tr(", crosses nodes") : QString())
                            .arg(htmlBytes(double(col.payload)))
                            .arg(col.calls)
                            .arg(col.time_us, 0, 'f', 1)
                            .arg(QString::fromStdString(to_string(col.source)));
        html += QStringLiteral("</table>");
        for (const auto& note : e.notes)
            html += QStringLiteral("<p style='color:gray'>%1</p>").arg(QString::fromStdString(note).toHtmlEscaped());
    }
    m_text->setHtml(html);
}

} // namespace shard::ui
