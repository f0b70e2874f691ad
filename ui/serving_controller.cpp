#include "serving_controller.h"

#include "serving/disaggregated.h"
#include "store/run_store.h"

#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QPointer>
#include <QtConcurrent/QtConcurrentRun>

namespace shard::ui {

namespace {

struct SearchOutcome {
    serving::SearchResult result;
    QString error;
    double ms = 0;
};

int longest_context(const std::vector<serving::Request>& requests, const ModelSpec& model)
{
    int longest = 2;
    for (const auto& r : requests)
        longest = std::max(longest, r.prompt + r.output);
    return int(std::min<std::int64_t>(longest, model.max_context));
}

} // namespace

std::vector<serving::Request> ServingInputs::requests() const
{
    return trace ? *trace : serving::generate_requests(traffic);
}

ServingController::ServingController(QObject* parent)
    : QObject(parent)
{ }

ServingController::~ServingController()
{
    cancel();
}

void ServingController::cancel()
{
    if (m_cancel)
        m_cancel->store(true);
}

void ServingController::search(const ServingInputs& inputs)
{
    cancel();
    m_inputs = inputs;
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    const quint64 generation = ++m_generation;
    ++m_running;
    auto* watcher = new QFutureWatcher<SearchOutcome>(this);
    connect(watcher, &QFutureWatcher<SearchOutcome>::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        --m_running;
        if (generation != m_generation)
            return; // a newer search replaced it
        const SearchOutcome outcome = watcher->result();
        if (!outcome.error.isEmpty())
            emit failed(outcome.error);
        else
            emit searched(outcome.result, outcome.ms);
    });
    QPointer<ServingController> self(this);
    auto cancel_flag = m_cancel;
    watcher->setFuture(QtConcurrent::run([inputs, cancel_flag, self, generation] {
        SearchOutcome outcome;
        QElapsedTimer timer;
        timer.start();
        try {
            const Efficiency efficiency =
                prediction_efficiency(inputs.topology.gpu, RunStore::default_path(), inputs.tables);
            serving::SearchSpace space = inputs.space;
            space.dtype = inputs.dtype;
            space.kv_dtype = inputs.kv_dtype;
            outcome.result = serving::search_deployments(
                inputs.model, inputs.topology, inputs.requests(), inputs.slo, space, inputs.objective, efficiency,
                [self, generation](const serving::SearchProgress& p) {
                    // Back to the UI thread, queued: the worker never touches a widget.
                    QMetaObject::invokeMethod(
                        self,
                        [self, generation, p] {
                            if (self && generation == self->m_generation)
                                emit self->progress(p.done, p.total, QString::fromStdString(p.current));
                        },
                        Qt::QueuedConnection);
                },
                cancel_flag.get());
        } catch (const std::exception& e) {
            outcome.error = QString::fromUtf8(e.what());
        }
        outcome.ms = double(timer.nsecsElapsed()) / 1e6;
        return outcome;
    }));
}

void ServingController::detail(const serving::DeploymentOption& option)
{
    const ServingInputs inputs = m_inputs;
    const quint64 generation = m_generation;
    auto* watcher = new QFutureWatcher<ServingDetail>(this);
    connect(watcher, &QFutureWatcher<ServingDetail>::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        if (generation == m_generation)
            emit detailed(watcher->result());
    });
    watcher->setFuture(QtConcurrent::run([inputs, option] {
        ServingDetail d;
        d.option = option;
        try {
            const auto requests = inputs.requests();
            const Efficiency efficiency =
                prediction_efficiency(inputs.topology.gpu, RunStore::default_path(), inputs.tables);
            auto steps_for = [&](const Strategy& layout) {
                return serving::CostModelStepTime(
                    inputs.model, layout, serving::replica_topology(inputs.topology, layout.devices()), inputs.dtype,
                    inputs.kv_dtype, option.limits.max_seqs, longest_context(requests, inputs.model),
                    int(option.limits.max_batched_tokens), efficiency);
            };
            const serving::CostModelStepTime steps = steps_for(option.layout);
            if (option.prefill_layout) {
                // The pools as the search ran them.
                const serving::CostModelStepTime prefill_steps = steps_for(*option.prefill_layout);
                serving::Pool prefill{*option.prefill_layout, option.prefill_replicas, option.limits, &prefill_steps};
                prefill.limits.kv_blocks = prefill_steps.kv_capacity_tokens() / option.limits.block_size;
                const serving::Pool decode{option.layout, option.replicas, option.limits, &steps};
                d.run = serving::simulate_disaggregated(
                            requests, prefill, decode,
                            serving::price_kv_transfer(inputs.model, inputs.kv_dtype, inputs.topology,
                                                       *option.prefill_layout, option.layout))
                            .merged;
            } else {
                d.run = serving::simulate_deployment(requests, option.replicas, option.limits, steps).merged;
            }
        } catch (const std::exception&) {
            // The search simulated it a moment ago: a failure here leaves the charts empty.
        }
        return d;
    }));
}

} // namespace shard::ui
