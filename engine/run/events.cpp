#include "events.h"

#include "core/error.h"

#include <climits>
#include <cmath>
#include <type_traits>

namespace shard::run {

namespace {

template<class> inline constexpr bool kAlwaysFalse = false;

OrderedJson header(const char* kind)
{
    OrderedJson j;
    j["v"] = kProtocolVersion;
    j["event"] = kind;
    return j;
}

template<class T> void put(OrderedJson& j, const char* key, const std::optional<T>& value)
{
    if (value)
        j[key] = *value;
}

// Reading: what is there and of the right type, else the default (see events.h).
const OrderedJson* field(const OrderedJson& j, const char* key)
{
    const auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
}

std::string text(const OrderedJson& j, const char* key, const std::string& fallback = {})
{
    const OrderedJson* f = field(j, key);
    return f && f->is_string() ? f->get<std::string>() : fallback;
}

std::optional<std::string> optional_text(const OrderedJson& j, const char* key)
{
    const OrderedJson* f = field(j, key);
    return f && f->is_string() ? std::optional<std::string>(f->get<std::string>()) : std::nullopt;
}

std::optional<double> real(const OrderedJson& j, const char* key)
{
    const OrderedJson* f = field(j, key);
    return f && f->is_number() ? std::optional<double>(f->get<double>()) : std::nullopt;
}

std::optional<std::int64_t> whole(const OrderedJson& j, const char* key)
{
    const OrderedJson* f = field(j, key);
    if (!f)
        return std::nullopt;
    if (f->is_number_integer() && !(f->is_number_unsigned() && f->get<std::uint64_t>() > INT64_MAX))
        return f->get<std::int64_t>();
    if (f->is_number_float() && std::abs(f->get<double>()) < 9.0e18)
        return static_cast<std::int64_t>(f->get<double>());
    return std::nullopt;
}

int small(const OrderedJson& j, const char* key, int fallback)
{
    const auto v = whole(j, key);
    return v && *v >= INT_MIN && *v <= INT_MAX ? int(*v) : fallback;
}

std::optional<bool> flag(const OrderedJson& j, const char* key)
{
    const OrderedJson* f = field(j, key);
    return f && f->is_boolean() ? std::optional<bool>(f->get<bool>()) : std::nullopt;
}

const OrderedJson& object(const OrderedJson& j, const char* key)
{
    static const OrderedJson empty = OrderedJson::object();
    const OrderedJson* f = field(j, key);
    return f && f->is_object() ? *f : empty;
}

template<class T, class Read> std::vector<T> list(const OrderedJson& j, const char* key, Read read)
{
    std::vector<T> out;
    const OrderedJson* f = field(j, key);
    if (f && f->is_array())
        for (const OrderedJson& item : *f)
            if (auto v = read(item))
                out.push_back(*v);
    return out;
}

OrderedJson write(const StartEvent& e)
{
    OrderedJson j = header("start");
    j["plan"] = e.plan;
    j["backend"] = e.backend;
    j["model"] = e.model;
    j["topology"] = e.topology;
    j["strategy"] = e.strategy;
    j["ranks"] = e.ranks;
    j["steps"] = e.steps;
    j["batch"] = e.batch;
    j["prompt"] = e.prompt;
    OrderedJson env;
    env["host"] = e.environment.host;
    env["engine_version"] = e.environment.engine_version;
    env["gpus"] = e.environment.gpus;
    env["dtype"] = e.environment.dtype;
    for (const auto& [key, value] :
         {std::pair{"driver", &e.environment.driver}, {"cuda", &e.environment.cuda}, {"nccl", &e.environment.nccl}})
        if (!value->empty())
            env[key] = *value;
    j["environment"] = env;
    put(j, "dtype", e.dtype);
    put(j, "graphs", e.graphs);
    put(j, "overlap", e.overlap);
    put(j, "network", e.network);
    put(j, "host_threads", e.host_threads);
    put(j, "note", e.note);
    return j;
}

OrderedJson write(const ProgressEvent& e)
{
    OrderedJson j = header("progress");
    j["step"] = e.step;
    j["total"] = e.total;
    return j;
}

OrderedJson write(const OpEvent& e)
{
    OrderedJson j = header("op");
    j["rank"] = e.rank;
    j["step"] = e.step;
    j["layer"] = e.layer;
    j["op"] = e.op;
    j["kind"] = e.kind;
    j["us"] = e.us;
    put(j, "start_us", e.start_us);
    j["measured"] = true;
    put(j, "predicted_us", e.predicted_us);
    return j;
}

OrderedJson write(const CollectiveEvent& e)
{
    OrderedJson j = header("collective");
    j["rank"] = e.rank;
    j["step"] = e.step;
    j["op"] = e.op;
    j["group"] = e.group;
    j["group_size"] = e.group_size;
    j["bytes"] = e.bytes;
    j["sent"] = e.sent;
    j["received"] = e.received;
    j["us"] = e.us;
    put(j, "start_us", e.start_us);
    j["algbw"] = e.algbw;
    j["busbw"] = e.busbw;
    j["control"] = e.control;
    j["measured"] = !e.modeled;
    if (e.modeled)
        j["time"] = "modeled";
    put(j, "predicted_bytes", e.predicted_bytes);
    return j;
}

OrderedJson write(const ResultEvent& e)
{
    OrderedJson j = header("result");
    j["status"] = e.status;
    if (!e.backend.empty())
        j["backend"] = e.backend;
    if (!e.message.empty())
        j["message"] = e.message;
    put(j, "seconds", e.seconds);
    OrderedJson measured = OrderedJson::object();
    put(measured, "ttft_ms", e.ttft_ms);
    put(measured, "tpot_ms", e.tpot_ms);
    put(measured, "tokens_per_s", e.tokens_per_s);
    if (!e.step_ms.empty())
        measured["step_ms"] = e.step_ms;
    j["measured"] = measured;
    if (e.predicted_ttft_ms || e.predicted_tpot_ms || e.predicted_tokens_per_s || !e.predicted_gpu.empty()) {
        OrderedJson predicted = OrderedJson::object();
        put(predicted, "ttft_ms", e.predicted_ttft_ms);
        put(predicted, "tpot_ms", e.predicted_tpot_ms);
        put(predicted, "tokens_per_s", e.predicted_tokens_per_s);
        predicted["gpu"] = e.predicted_gpu;
        j["predicted"] = predicted;
    }
    if (e.tokens_match) { // the run was checked against the reference
        j["max_rel_error"] = e.max_rel_error ? OrderedJson(*e.max_rel_error) : OrderedJson(); // null: NaN or inf
        j["non_finite"] = e.non_finite;
        j["tokens_match"] = *e.tokens_match;
    }
    if (e.traffic_exact) {
        j["traffic_exact"] = *e.traffic_exact;
        j["traffic_differences"] = e.traffic_differences;
    }
    put(j, "dtype", e.dtype);
    put(j, "checked", e.checked);
    put(j, "tolerance", e.tolerance);
    put(j, "network", e.network);
    if (!e.step_times.empty()) {
        OrderedJson times = OrderedJson::array();
        for (const StepTimes& t : e.step_times)
            times.push_back(
                {{"compute_ms", t.compute_ms}, {"network_ms", t.network_ms}, {"gpu_ms", t.gpu_ms}, {"graph", t.graph}});
        j["step_times"] = times;
    }
    put(j, "weight_bytes_per_rank", e.weight_bytes_per_rank);
    put(j, "workspace_bytes_per_rank", e.workspace_bytes_per_rank);
    return j;
}

OrderedJson write(const ErrorEvent& e)
{
    OrderedJson j = header("error");
    j["status"] = e.status;
    j["message"] = e.message;
    return j;
}

OrderedJson write(const StoredEvent& e)
{
    OrderedJson j = header("stored");
    j["run"] = e.run;
    j["database"] = e.database;
    return j;
}

OrderedJson write(const OtherEvent& e)
{
    OrderedJson j = header(e.kind.c_str());
    for (const auto& [key, value] : e.fields.items())
        if (key != "v" && key != "event")
            j[key] = value;
    return j;
}

StartEvent read_start(const OrderedJson& j)
{
    StartEvent e;
    e.plan = text(j, "plan");
    e.backend = text(j, "backend");
    e.model = text(j, "model");
    e.topology = text(j, "topology");
    e.strategy = text(j, "strategy");
    e.ranks = small(j, "ranks", 0);
    e.steps = small(j, "steps", 0);
    e.batch = small(j, "batch", 0);
    e.prompt = small(j, "prompt", 0);
    const OrderedJson& env = object(j, "environment");
    e.environment.host = text(env, "host");
    e.environment.engine_version = text(env, "engine_version");
    e.environment.gpus = list<std::string>(env, "gpus", [](const OrderedJson& g) {
        return g.is_string() ? std::optional<std::string>(g.get<std::string>()) : std::nullopt;
    });
    e.environment.dtype = text(env, "dtype");
    e.environment.driver = text(env, "driver");
    e.environment.cuda = text(env, "cuda");
    e.environment.nccl = text(env, "nccl");
    e.dtype = optional_text(j, "dtype");
    e.graphs = flag(j, "graphs");
    e.overlap = flag(j, "overlap");
    e.network = optional_text(j, "network");
    e.host_threads = optional_text(j, "host_threads");
    e.note = optional_text(j, "note");
    return e;
}

OpEvent read_op(const OrderedJson& j)
{
    OpEvent e;
    e.rank = small(j, "rank", 0);
    e.step = small(j, "step", 0);
    e.layer = small(j, "layer", -1);
    e.op = text(j, "op");
    e.kind = text(j, "kind");
    e.us = real(j, "us").value_or(0.0);
    e.start_us = real(j, "start_us");
    e.predicted_us = real(j, "predicted_us");
    return e;
}

CollectiveEvent read_collective(const OrderedJson& j)
{
    CollectiveEvent e;
    e.rank = small(j, "rank", 0);
    e.step = small(j, "step", 0);
    e.op = text(j, "op");
    e.group = text(j, "group");
    e.group_size = small(j, "group_size", 1);
    e.bytes = whole(j, "bytes").value_or(0);
    e.sent = whole(j, "sent").value_or(0);
    e.received = whole(j, "received").value_or(0);
    e.us = real(j, "us").value_or(0.0);
    e.start_us = real(j, "start_us");
    e.algbw = real(j, "algbw").value_or(0.0);
    e.busbw = real(j, "busbw").value_or(0.0);
    e.control = flag(j, "control").value_or(false);
    e.modeled = text(j, "time") == "modeled";
    e.predicted_bytes = whole(j, "predicted_bytes");
    return e;
}

ResultEvent read_result(const OrderedJson& j)
{
    ResultEvent e;
    e.status = text(j, "status", "completed");
    e.backend = text(j, "backend");
    e.message = text(j, "message");
    e.seconds = real(j, "seconds");
    const OrderedJson& measured = object(j, "measured");
    e.ttft_ms = real(measured, "ttft_ms");
    e.tpot_ms = real(measured, "tpot_ms");
    e.tokens_per_s = real(measured, "tokens_per_s");
    e.step_ms = list<double>(measured, "step_ms", [](const OrderedJson& v) {
        return v.is_number() ? std::optional<double>(v.get<double>()) : std::nullopt;
    });
    const OrderedJson& predicted = object(j, "predicted");
    e.predicted_ttft_ms = real(predicted, "ttft_ms");
    e.predicted_tpot_ms = real(predicted, "tpot_ms");
    e.predicted_tokens_per_s = real(predicted, "tokens_per_s");
    e.predicted_gpu = text(predicted, "gpu");
    e.max_rel_error = real(j, "max_rel_error");
    e.non_finite = flag(j, "non_finite").value_or(false);
    e.tokens_match = flag(j, "tokens_match");
    e.traffic_exact = flag(j, "traffic_exact");
    e.traffic_differences = list<std::string>(j, "traffic_differences", [](const OrderedJson& v) {
        return v.is_string() ? std::optional<std::string>(v.get<std::string>()) : std::nullopt;
    });
    e.dtype = optional_text(j, "dtype");
    e.checked = flag(j, "checked");
    e.tolerance = real(j, "tolerance");
    e.network = optional_text(j, "network");
    e.step_times = list<StepTimes>(j, "step_times", [](const OrderedJson& v) -> std::optional<StepTimes> {
        if (!v.is_object())
            return std::nullopt;
        return StepTimes{real(v, "compute_ms").value_or(0.0), real(v, "network_ms").value_or(0.0),
                         real(v, "gpu_ms").value_or(0.0), flag(v, "graph").value_or(false)};
    });
    e.weight_bytes_per_rank = whole(j, "weight_bytes_per_rank");
    e.workspace_bytes_per_rank = whole(j, "workspace_bytes_per_rank");
    return e;
}

} // namespace

std::string kind_of(const Event& event)
{
    return std::visit(
        [](const auto& e) -> std::string {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, StartEvent>)
                return "start";
            else if constexpr (std::is_same_v<T, ProgressEvent>)
                return "progress";
            else if constexpr (std::is_same_v<T, OpEvent>)
                return "op";
            else if constexpr (std::is_same_v<T, CollectiveEvent>)
                return "collective";
            else if constexpr (std::is_same_v<T, ResultEvent>)
                return "result";
            else if constexpr (std::is_same_v<T, ErrorEvent>)
                return "error";
            else if constexpr (std::is_same_v<T, StoredEvent>)
                return "stored";
            else if constexpr (std::is_same_v<T, OtherEvent>)
                return e.kind;
            else
                static_assert(kAlwaysFalse<T>);
        },
        event);
}

OrderedJson to_json(const Event& event)
{
    return std::visit([](const auto& e) { return write(e); }, event);
}

std::string to_line(const Event& event)
{
    return dump_json(to_json(event));
}

Event parse_event(const Json& json)
{
    return parse_event(OrderedJson(json));
}

Event parse_event(const OrderedJson& j)
{
    if (!j.is_object())
        throw Error("an event must be a JSON object, got " + json_excerpt(j));
    const std::string kind = text(j, "event");
    if (kind == "start")
        return read_start(j);
    if (kind == "progress")
        return ProgressEvent{small(j, "step", 0), small(j, "total", 0)};
    if (kind == "op")
        return read_op(j);
    if (kind == "collective")
        return read_collective(j);
    if (kind == "result")
        return read_result(j);
    if (kind == "error")
        return ErrorEvent{text(j, "status", "failed"), text(j, "message")};
    if (kind == "stored")
        return StoredEvent{whole(j, "run").value_or(0), text(j, "database")};
    OtherEvent other;
    other.kind = kind;
    for (const auto& [key, value] : j.items())
        if (key != "v" && key != "event")
            other.fields[key] = value;
    return other;
}

Event parse_event_line(std::string_view line)
{
    return parse_event(parse_ordered_json_text(line, "event"));
}

} // namespace shard::run
