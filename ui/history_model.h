#pragma once

#include "store/run_store.h"

#include <QAbstractTableModel>

namespace shard::ui {

// Stored runs, newest first: what ran where and how it compared with its prediction.
class HistoryModel : public QAbstractTableModel {
    Q_OBJECT

public:
    enum Column {
        Id,
        Started,
        Model,
        Topology,
        Strategy,
        Backend,
        Kind,
        Status,
        TtftMeasured,
        TtftPredicted,
        TpotMeasured,
        TpotPredicted,
        ColumnCount
    };

    using QAbstractTableModel::QAbstractTableModel;

    void setRuns(std::vector<RunRecord> runs);
    const RunRecord* run(int row) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    std::vector<RunRecord> m_runs;
};

} // namespace shard::ui
