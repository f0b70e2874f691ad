#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shard::serving {

// One request of the traffic a deployment serves.
struct Request {
    std::int64_t id = 0;
    double arrival_s = 0;
    int prompt = 0; // tokens
    int output = 0; // tokens to generate (the first of them ends the prefill)
    // Requests sharing a prefix id share the first `prefix_tokens` of their prompts (a
    // system prompt, a conversation so far), which a replica's prefix cache can hold.
    std::string prefix;
    int prefix_tokens = 0;
    // Disaggregated serving's decode pool: the prompt's KV cache arrives with the request
    // and its first token is already out, so the replica only decodes.
    bool prefilled = false;
};

// Prompt or output lengths: a fixed value, uniform in [low, high], or lognormal with a
// mean and a 90th percentile (the figures traffic reports give); drawn lengths are at least 1.
struct LengthDistribution {
    enum class Kind { Fixed, Uniform, Lognormal };
    Kind kind = Kind::Fixed;
    double a = 0; // fixed: the value; uniform: low; lognormal: mean
    double b = 0; // uniform: high; lognormal: p90
    static LengthDistribution fixed(int tokens);
    static LengthDistribution uniform(int low, int high);
    static LengthDistribution lognormal(double mean, double p90);
    // "512", "uniform:128-2048", "lognormal:1000,p90=3000"; errors name the text.
    static LengthDistribution parse(const std::string& text);
    void validate(const char* what) const;
};

// How requests arrive: Poisson at a rate, gamma-distributed gaps at a rate with a burstiness
// (the gaps' coefficient of variation: 1 is Poisson, more is burstier), or a fixed number of
// users each sending the next request when the last one finishes (closed loop).
struct Arrivals {
    enum class Kind { Poisson, Gamma, Concurrency };
    Kind kind = Kind::Poisson;
    double rate = 1; // requests per second (Poisson, Gamma)
    double burstiness = 1; // Gamma: coefficient of variation of the gaps
    int users = 1; // Concurrency
};

struct TrafficSpec {
    Arrivals arrivals;
    LengthDistribution prompt = LengthDistribution::fixed(1024);
    LengthDistribution output = LengthDistribution::fixed(128);
    int requests = 1000;
    std::uint64_t seed = 1;
    // The first `shared_prefix` tokens of every prompt (at most all but its last) are one of
    // `prefix_groups` system prompts, taken in turn: what a prefix cache can reuse.
    int shared_prefix = 0;
    int prefix_groups = 1;
    void validate() const;
};

// The requests of `spec`, in arrival order, the same for the same seed. With Concurrency
// arrivals every request has arrival 0: the simulator releases each as a user frees up.
std::vector<Request> generate_requests(const TrafficSpec& spec);

// A trace CSV: a header naming arrival_s, prompt_tokens, output_tokens and optionally
// prefix_id and prefix_tokens, then one request per line (arrivals need not be sorted;
// they are). Without prefix_tokens the shared prefix of an id is the shortest prompt under
// it, the most every one of them is known to share. A bad row is an error naming `source`,
// its line and the column.
std::vector<Request> parse_trace_csv(std::string_view text, const std::string& source);
std::vector<Request> read_trace_csv(const std::string& path);

// The shape of a trace as a generated traffic would give it (Poisson at its mean rate, its
// mean prompt and output lengths, its request count), for the engines' own benchmarks that
// cannot replay it.
TrafficSpec describe_trace(const std::vector<Request>& requests);

} // namespace shard::serving
