#pragma once

// The event protocol of a run (DESIGN.md section 4): JSON Lines, each line one event with
// "v": 1 and "event": its kind. This header is the protocol: every writer (the CPU executor,
// shard-engine, the CLI, simulated runs) builds these structs and writes them with to_json,
// every reader (the run store, the CLI reading shard-engine, the studio) parses lines with
// parse_event. A reader takes what it understands: a missing field, or one of another type,
// reads as its default (events cross processes and files; one odd field must not lose a run),
// and a kind it does not know arrives as an OtherEvent.
#include "core/json_util.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace shard::run {

inline constexpr int kProtocolVersion = 1;

// Where a run ran.
struct RunEnvironment {
    std::string host;
    std::string engine_version;
    std::vector<std::string> gpus; // device names, one per GPU the run used
    std::string dtype; // of the run's arithmetic
    std::string driver, cuda, nccl; // the CUDA engine's versions
    bool operator==(const RunEnvironment&) const = default;
};

struct StartEvent {
    std::string plan, backend, model, topology, strategy;
    int ranks = 0, steps = 0, batch = 0, prompt = 0;
    RunEnvironment environment;
    // The CUDA engine's run settings.
    std::optional<std::string> dtype;
    std::optional<bool> graphs, overlap;
    std::optional<std::string> network; // "measured", or "modeled" for emulated ranks
    std::optional<std::string> host_threads;
    std::optional<std::string> note;
    bool operator==(const StartEvent&) const = default;
};

struct ProgressEvent {
    int step = 0, total = 0;
    bool operator==(const ProgressEvent&) const = default;
};

// One op one rank timed, next to what the planner predicted for it.
struct OpEvent {
    int rank = 0, step = 0, layer = -1;
    std::string op, kind;
    double us = 0;
    std::optional<double> start_us; // on the rank's clock, from the run's start
    std::optional<double> predicted_us;
    bool operator==(const OpEvent&) const = default;
};

// One collective call of one rank, with nccl-tests' bandwidths.
struct CollectiveEvent {
    int rank = 0, step = 0;
    std::string op, group;
    int group_size = 1;
    std::int64_t bytes = 0, sent = 0, received = 0;
    double us = 0;
    std::optional<double> start_us;
    double algbw = 0, busbw = 0; // GB/s
    bool control = false; // a small control message, not model data
    bool modeled = false; // emulated ranks: the bytes are real, the time is the cost model's
    std::optional<std::int64_t> predicted_bytes; // per call, what this rank receives
    bool operator==(const CollectiveEvent&) const = default;
};

struct StepTimes {
    double compute_ms = 0, network_ms = 0, gpu_ms = 0;
    bool graph = false;
    bool operator==(const StepTimes&) const = default;
};

struct ResultEvent {
    std::string status = "completed";
    std::string backend;
    std::string message;
    std::optional<double> seconds;
    // Measured, and what the planner predicted (on `predicted_gpu`).
    std::optional<double> ttft_ms, tpot_ms, tokens_per_s;
    std::vector<double> step_ms;
    std::optional<double> predicted_ttft_ms, predicted_tpot_ms, predicted_tokens_per_s;
    std::string predicted_gpu;
    // The checks against the reference: no value when the run produced NaN or infinity
    // (non_finite) or was not checked.
    std::optional<double> max_rel_error;
    bool non_finite = false;
    std::optional<bool> tokens_match, traffic_exact;
    std::vector<std::string> traffic_differences;
    // The CUDA engine's.
    std::optional<std::string> dtype;
    std::optional<bool> checked;
    std::optional<double> tolerance;
    std::optional<std::string> network;
    std::vector<StepTimes> step_times;
    std::optional<std::int64_t> weight_bytes_per_rank, workspace_bytes_per_rank;
    bool operator==(const ResultEvent&) const = default;
};

struct ErrorEvent {
    std::string status = "failed"; // or "cancelled"
    std::string message;
    bool operator==(const ErrorEvent&) const = default;
};

// The CLI tells a reader of its stream (the studio) which run in which database holds it.
struct StoredEvent {
    std::int64_t run = 0;
    std::string database;
    bool operator==(const StoredEvent&) const = default;
};

// Anything else on the stream (a self-test's or a profile's report, an MPI bootstrap): its
// kind and its fields as written.
struct OtherEvent {
    std::string kind;
    OrderedJson fields = OrderedJson::object(); // without "v" and "event"
    bool operator==(const OtherEvent&) const = default;
};

using Event =
    std::variant<StartEvent, ProgressEvent, OpEvent, CollectiveEvent, ResultEvent, ErrorEvent, StoredEvent, OtherEvent>;

// "start", "progress", "op", "collective", "result", "error", "stored", or the other kind.
std::string kind_of(const Event& event);
// The one writer: the event as the protocol's JSON object, "v" and "event" first.
OrderedJson to_json(const Event& event);
std::string to_line(const Event& event); // one line, no newline
// The one parser. Not a JSON object: an Error naming what arrived. An OtherEvent keeps its
// fields in the order they arrived in (the unordered Json overload sorts them).
Event parse_event(const OrderedJson& json);
Event parse_event(const Json& json);
// A line of the stream; not JSON: an Error quoting the start of it.
Event parse_event_line(std::string_view line);

} // namespace shard::run
