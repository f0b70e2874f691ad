#pragma once

#include "serving/deployment_search.h"
#include "store/prediction_tables.h"

#include <QObject>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shard::ui {

// What a serving search is asked: the deployment's model and machine, the traffic, the SLO
// and the search's bounds.
struct ServingInputs {
    ModelSpec model;
    Topology topology;
    // Set: more nodes to deploy on (another GPU kind), searched beside `topology`'s.
    std::optional<Topology> also_on;
    DType dtype = DType::BF16, kv_dtype = DType::BF16;
    TableSource tables = TableSource::Auto;
    serving::TrafficSpec traffic;
    // Set: the requests come from this trace instead of `traffic` (which still gives the
    // engines' benchmarks their shape).
    std::shared_ptr<const std::vector<serving::Request>> trace;
    std::string trace_name;
    serving::Slo slo;
    serving::SearchSpace space;
    serving::SearchObjective objective = serving::SearchObjective::FewestGpus;
    // The requests simulated: the trace's, or generated from `traffic` (seeded).
    std::vector<serving::Request> requests() const;
    // The machines searched, each with its kernels' prices from `tables` and the run
    // database's corrections.
    std::vector<serving::Machine> machines() const;
};

// One deployment simulated again in full: every request and step, for the distributions and
// the timeline.
struct ServingDetail {
    serving::DeploymentOption option;
    serving::ReplicaRun run; // all replicas' requests; replica 0's steps
};

// Runs deployment searches and detail simulations off the UI thread (QtConcurrent). A search
// reports progress and can be cancelled; starting another cancels the one running, and only
// the newest one's result is delivered.
class ServingController : public QObject {
    Q_OBJECT

public:
    explicit ServingController(QObject* parent = nullptr);
    ~ServingController() override;

    void search(const ServingInputs& inputs);
    void cancel();
    bool busy() const { return m_running > 0; }
    const ServingInputs& inputs() const { return m_inputs; }
    // Simulates `option` of the newest search again, keeping every request.
    void detail(const serving::DeploymentOption& option);

signals:
    void progress(int done, int total, const QString& current);
    void searched(const shard::serving::SearchResult& result, double milliseconds);
    void failed(const QString& message);
    void detailed(const shard::ui::ServingDetail& detail);

private:
    ServingInputs m_inputs;
    std::shared_ptr<std::atomic<bool>> m_cancel;
    quint64 m_generation = 0;
    int m_running = 0;
};

} // namespace shard::ui
