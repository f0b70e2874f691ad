#pragma once

#include <QSortFilterProxyModel>

namespace shard::ui {

// Sorts the candidates by their raw numbers and filters by text (strategy or mesh) and,
// optionally, to the feasible ones.
class CandidatesFilter : public QSortFilterProxyModel {
    Q_OBJECT

public:
    explicit CandidatesFilter(QObject* parent = nullptr);
    void setFeasibleOnly(bool on);

protected:
    bool filterAcceptsRow(int row, const QModelIndex& parent) const override;

private:
    bool m_feasibleOnly = false;
};

} // namespace shard::ui
