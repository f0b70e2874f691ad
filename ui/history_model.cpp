#include "history_model.h"

#include <QColor>

namespace shard::ui {

namespace {

QVariant ms(const std::optional<double>& v)
{
    return v ? QVariant(QString::number(*v, 'f', 3)) : QVariant();
}

} // namespace

void HistoryModel::setRuns(std::vector<RunRecord> runs)
{
    beginResetModel();
    m_runs = std::move(runs);
    endResetModel();
}

const RunRecord* HistoryModel::run(int row) const
{
    return row >= 0 && row < int(m_runs.size()) ? &m_runs[std::size_t(row)] : nullptr;
}

int HistoryModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : int(m_runs.size());
}

int HistoryModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant HistoryModel::data(const QModelIndex& index, int role) const
{
    const RunRecord* r = index.isValid() ? run(index.row()) : nullptr;
    if (!r)
        return {};
    if (role == Qt::ForegroundRole && index.column() == Status) {
        switch (r->status) {
        case RunStatus::Completed:
            return QColor(0x2e, 0x7d, 0x32);
        case RunStatus::Failed:
            return QColor(0xc0, 0x39, 0x2b);
        case RunStatus::Cancelled:
            return QColor(0xb2, 0x6b, 0x00);
        case RunStatus::Running:
            return QColor(0x1f, 0x5f, 0xbf);
        }
    }
    if (role == Qt::ToolTipRole && !r->message.empty())
        return QString::fromStdString(r->message);
    if (role != Qt::DisplayRole)
        return {};
    switch (index.column()) {
    case Id:
        return qlonglong(r->id);
    case Started:
        return QString::fromStdString(r->started_at);
    case Model:
        return QString::fromStdString(r->model);
    case Topology:
        return QString::fromStdString(r->topology);
    case Strategy:
        return QString::fromStdString(r->strategy);
    case Backend:
        return QString::fromStdString(r->backend);
    case Kind:
        return QString::fromStdString(r->kind);
    case Status:
        return QString::fromStdString(to_string(r->status));
    case TtftMeasured:
        return ms(r->ttft_ms);
    case TtftPredicted:
        return ms(r->predicted_ttft_ms);
    case TpotMeasured:
        return ms(r->tpot_ms);
    case TpotPredicted:
        return ms(r->predicted_tpot_ms);
    default:
        return {};
    }
}

QVariant HistoryModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation == Qt::Horizontal && role == Qt::ToolTipRole
        && (section == TtftMeasured || section == TpotMeasured || section == Kind))
        return tr("Measured by the backend that ran it, or, for a simulated run, the serving simulator's mean over "
                  "its requests on predicted step times (the Kind column says which)");
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Id:
        return tr("Run");
    case Started:
        return tr("Started (UTC)");
    case Model:
        return tr("Model");
    case Topology:
        return tr("Topology");
    case Strategy:
        return tr("Strategy");
    case Backend:
        return tr("Backend");
    case Kind:
        return tr("Kind");
    case Status:
        return tr("Status");
    case TtftMeasured:
        return tr("TTFT ms\nof the run");
    case TtftPredicted:
        return tr("TTFT ms\npredicted");
    case TpotMeasured:
        return tr("TPOT ms\nof the run");
    case TpotPredicted:
        return tr("TPOT ms\npredicted");
    default:
        return {};
    }
}

} // namespace shard::ui
