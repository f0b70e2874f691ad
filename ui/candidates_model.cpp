#include "candidates_model.h"

#include "core/units.h"

#include <QColor>
#include <QGuiApplication>
#include <QPalette>

namespace shard::ui {

namespace {

QString ms(double value)
{
    return QString::number(value, 'f', value >= 100 ? 1 : value >= 1 ? 2 : 3);
}

QString bytes(double value)
{
    return QString::fromStdString(format_bytes(value));
}

} // namespace

void CandidatesModel::setResult(PlanResult result)
{
    beginResetModel();
    m_result = std::move(result);
    endResetModel();
}

const Candidate* CandidatesModel::candidate(int row) const
{
    return row >= 0 && row < int(m_result.candidates.size()) ? &m_result.candidates[std::size_t(row)] : nullptr;
}

int CandidatesModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : int(m_result.candidates.size());
}

int CandidatesModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant CandidatesModel::data(const QModelIndex& index, int role) const
{
    const Candidate* c = index.isValid() ? candidate(index.row()) : nullptr;
    if (!c)
        return {};
    const Estimate& e = c->estimate;
    const bool feasible = e.feasible;
    if (role == FeasibleRole)
        return feasible;
    if (role == Qt::ForegroundRole && !feasible)
        return QGuiApplication::palette().color(QPalette::Disabled, QPalette::Text);
    if (role == Qt::ToolTipRole)
        return feasible ? QStringLiteral("%1 (%2): predicted by the cost model")
                              .arg(QString::fromStdString(c->strategy.label()),
                                   QString::fromStdString(c->strategy.mesh_text()))
                        : QStringLiteral("Rejected: %1").arg(QString::fromStdString(e.reason));
    if (role == Qt::TextAlignmentRole)
        return index.column() >= MemoryPerGpu && index.column() <= TokensPerSecond
                   ? int(Qt::AlignRight | Qt::AlignVCenter)
                   : int(Qt::AlignLeft | Qt::AlignVCenter);
    if (role == SortRole) {
        switch (index.column()) {
        case Rank:
            return c->rank;
        case MemoryPerGpu:
            return double(e.memory.total());
        case CommPerStep:
            return double(e.decode.traffic_per_device);
        case Ttft:
            return feasible ? e.ttft_ms : 1e300;
        case Tpot:
            return feasible ? e.tpot_ms : 1e300;
        case TokensPerSecond:
            return feasible ? e.tokens_per_s : -1.0;
        case Pareto:
            return c->pareto ? 1 : 0;
        default:
            break;
        }
        role = Qt::DisplayRole;
    }
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case Rank:
        return c->rank;
    case Strategy:
        return QString::fromStdString(c->strategy.label());
    case Mesh:
        return QString::fromStdString(c->strategy.mesh_text());
    case MemoryPerGpu:
        return bytes(double(e.memory.total()));
    case CommPerStep:
        return feasible ? bytes(double(e.decode.traffic_per_device)) : QString();
    case Ttft:
        return feasible ? ms(e.ttft_ms) : QString();
    case Tpot:
        return feasible ? ms(e.tpot_ms) : QString();
    case TokensPerSecond:
        return feasible ? QString::number(e.tokens_per_s, 'f', 0) : QString();
    case Pareto:
        return c->pareto ? QStringLiteral("\u2605") : QString();
    case Reason:
        return feasible ? QString() : QString::fromStdString(e.reason);
    default:
        return {};
    }
}

QVariant CandidatesModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case MemoryPerGpu:
            return QStringLiteral("Predicted peak memory of the busiest GPU: weights, KV cache, activations, buffers");
        case CommPerStep:
            return QStringLiteral("Predicted bytes one GPU sends per decode step");
        case Ttft:
            return QStringLiteral("Predicted time to first token (prefill), milliseconds");
        case Tpot:
            return QStringLiteral("Predicted time per output token (decode step), milliseconds");
        case TokensPerSecond:
            return QStringLiteral("Predicted decode throughput of all replicas, tokens per second");
        case Pareto:
            return QStringLiteral("On the Pareto front of latency against memory per GPU");
        default:
            return {};
        }
    }
    if (role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Rank:
        return QStringLiteral("#");
    case Strategy:
        return QStringLiteral("Strategy");
    case Mesh:
        return QStringLiteral("Mesh");
    case MemoryPerGpu:
        return QStringLiteral("Memory/GPU\npredicted");
    case CommPerStep:
        return QStringLiteral("Comm/step\npredicted");
    case Ttft:
        return QStringLiteral("TTFT ms\npredicted");
    case Tpot:
        return QStringLiteral("TPOT ms\npredicted");
    case TokensPerSecond:
        return QStringLiteral("tok/s\npredicted");
    case Pareto:
        return QStringLiteral("Pareto");
    case Reason:
        return QStringLiteral("Rejected because");
    default:
        return {};
    }
}

} // namespace shard::ui
