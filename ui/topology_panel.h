#pragma once

#include "core/topology.h"
#include "store/prediction_tables.h"

#include <map>
#include <string>

#include <QWidget>

class QComboBox;
class QLabel;
class QSpinBox;
class QTableWidget;

namespace shard::ui {

// The machine: a preset or the local GPUs (NVML), nodes x GPUs per node, the GPU kind and
// the links of the node and between nodes.
class TopologyPanel : public QWidget {
    Q_OBJECT

public:
    explicit TopologyPanel(QWidget* parent = nullptr);

    const Topology& topology() const { return m_topology; }
    void setTopology(const Topology& topology);
    bool selectPreset(const QString& id);
    QString message() const;
    // Where the planner takes kernel times from for this topology's GPU kind (chosen per
    // kind; auto until the user picks), and that source in a phrase for the status line.
    TableSource tableSource() const;
    QString sourceSummary() const { return m_sourceSummary; }

signals:
    void topologyChanged(const shard::Topology& topology);

private:
    void detect();
    void sizeEdited();
    void refresh();
    void refreshSource();

    std::map<std::string, TableSource> m_tableChoice; // by GPU kind
    QString m_sourceSummary;
    QComboBox* m_tables = nullptr;
    QLabel* m_source = nullptr;

    Topology m_topology;
    bool m_updating = false;
    QComboBox* m_preset = nullptr;
    QSpinBox* m_nodes = nullptr;
    QSpinBox* m_gpus = nullptr;
    QLabel* m_gpu = nullptr;
    QTableWidget* m_links = nullptr;
    QLabel* m_message = nullptr;
};

} // namespace shard::ui
