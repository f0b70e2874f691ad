#include "candidates_filter.h"

#include "candidates_model.h"

namespace shard::ui {

CandidatesFilter::CandidatesFilter(QObject* parent)
    : QSortFilterProxyModel(parent)
{
    setSortRole(CandidatesModel::SortRole);
    setFilterCaseSensitivity(Qt::CaseInsensitive);
}

void CandidatesFilter::setFeasibleOnly(bool on)
{
    m_feasibleOnly = on;
    invalidateFilter();
}

bool CandidatesFilter::filterAcceptsRow(int row, const QModelIndex& parent) const
{
    const QAbstractItemModel* m = sourceModel();
    if (m_feasibleOnly && !m->index(row, 0, parent).data(CandidatesModel::FeasibleRole).toBool())
        return false;
    const QString pattern = filterRegularExpression().pattern();
    if (pattern.isEmpty())
        return true;
    for (const int column : {int(CandidatesModel::Strategy), int(CandidatesModel::Mesh)})
        if (m->index(row, column, parent).data().toString().contains(filterRegularExpression()))
            return true;
    return false;
}

} // namespace shard::ui
