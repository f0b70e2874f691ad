#pragma once

#include "planner/planner.h"

#include <QAbstractTableModel>

namespace shard::ui {

// Every candidate of the last planning, ranked: feasible ones first with their predicted
// memory, traffic and latencies; infeasible ones greyed with the reason in their row and
// tooltip. Sorting and filtering happen in a QSortFilterProxyModel on top (SortRole holds
// the raw numbers).
class CandidatesModel : public QAbstractTableModel {
    Q_OBJECT

public:
    enum Column {
        Rank,
        Strategy,
        Mesh,
        MemoryPerGpu,
        CommPerStep,
        Ttft,
        Tpot,
        TokensPerSecond,
        Pareto,
        Reason,
        ColumnCount
    };
    static constexpr int SortRole = Qt::UserRole + 1;
    static constexpr int FeasibleRole = Qt::UserRole + 2;

    using QAbstractTableModel::QAbstractTableModel;

    void setResult(PlanResult result);
    const PlanResult& result() const { return m_result; }
    const Candidate* candidate(int row) const;
    int feasibleCount() const { return m_result.feasible; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    PlanResult m_result;
};

} // namespace shard::ui
