#include "traffic.h"

#include "core/error.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

namespace shard::serving {

namespace {

// z of the standard normal's 90th percentile.
constexpr double kZ90 = 1.2815515655446004;

double parse_number(std::string_view text, const std::string& what)
{
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
        throw Error(what + ": '" + std::string(text) + "' is not a number");
    return value;
}

int draw(const LengthDistribution& d, std::mt19937_64& random)
{
    double x = d.a;
    switch (d.kind) {
    case LengthDistribution::Kind::Fixed:
        break;
    case LengthDistribution::Kind::Uniform:
        x = std::uniform_int_distribution<int>(int(d.a), int(d.b))(random);
        break;
    case LengthDistribution::Kind::Lognormal: {
        // mean = exp(mu + s^2 / 2), p90 = exp(mu + z s): s solves s^2 / 2 - z s + ln(p90 / mean) = 0.
        // The smaller positive root; p90 == mean is no spread at all.
        const double c = std::log(d.b / d.a);
        const double root = std::sqrt(std::max(0.0, kZ90 * kZ90 - 2 * c));
        const double s = c > 0 ? kZ90 - root : kZ90 + root;
        if (c == 0)
            break;
        const double mu = std::log(d.a) - s * s / 2;
        x = std::lognormal_distribution<double>(mu, s)(random);
        break;
    }
    }
    return std::max(1, int(std::lround(x)));
}

} // namespace

LengthDistribution LengthDistribution::fixed(int tokens)
{
    return {Kind::Fixed, double(tokens), 0};
}

LengthDistribution LengthDistribution::uniform(int low, int high)
{
    return {Kind::Uniform, double(low), double(high)};
}

LengthDistribution LengthDistribution::lognormal(double mean, double p90)
{
    return {Kind::Lognormal, mean, p90};
}

LengthDistribution LengthDistribution::parse(const std::string& text)
{
    const std::string what = "length '" + text + "'";
    if (text.rfind("uniform:", 0) == 0) {
        const std::string range = text.substr(8);
        const auto dash = range.find('-');
        if (dash == std::string::npos)
            throw Error(what + ": a uniform length is uniform:LOW-HIGH");
        return uniform(int(parse_number(range.substr(0, dash), what)), int(parse_number(range.substr(dash + 1), what)));
    }
    if (text.rfind("lognormal:", 0) == 0) {
        const std::string rest = text.substr(10);
        const auto comma = rest.find(",p90=");
        if (comma == std::string::npos)
            throw Error(what + ": a lognormal length is lognormal:MEAN,p90=P90");
        return lognormal(parse_number(rest.substr(0, comma), what), parse_number(rest.substr(comma + 5), what));
    }
    return fixed(int(parse_number(text, what + " (a token count, uniform:LOW-HIGH or lognormal:MEAN,p90=P90)")));
}

void LengthDistribution::validate(const char* what) const
{
    const std::string name(what);
    switch (kind) {
    case Kind::Fixed:
        if (a < 1)
            throw Error(name + " length must be at least 1 token, got " + std::to_string(int(a)));
        break;
    case Kind::Uniform:
        if (a < 1 || b < a)
            throw Error(name + " length: uniform needs 1 <= low <= high, got " + std::to_string(int(a)) + "-"
                        + std::to_string(int(b)));
        break;
    case Kind::Lognormal:
        // No lognormal with this mean has its p90 above mean x exp(z^2 / 2): the spread that
        // would put it there makes the mean larger.
        if (a < 1 || !(b > 0) || b > a * std::exp(kZ90 * kZ90 / 2))
            throw Error(name + " length: a lognormal with mean " + std::to_string(int(a)) + " needs a p90 from 1 to "
                        + std::to_string(int(a * std::exp(kZ90 * kZ90 / 2))) + ", got " + std::to_string(int(b)));
        break;
    }
}

void TrafficSpec::validate() const
{
    if (requests < 1)
        throw Error("traffic needs at least one request, got " + std::to_string(requests));
    switch (arrivals.kind) {
    case Arrivals::Kind::Gamma:
        if (!(arrivals.burstiness > 0))
            throw Error("burstiness must be above 0, got " + std::to_string(arrivals.burstiness));
        [[fallthrough]];
    case Arrivals::Kind::Poisson:
        if (!(arrivals.rate > 0) || !std::isfinite(arrivals.rate))
            throw Error("the request rate must be above 0 per second, got " + std::to_string(arrivals.rate));
        break;
    case Arrivals::Kind::Concurrency:
        if (arrivals.users < 1)
            throw Error("concurrency needs at least one user, got " + std::to_string(arrivals.users));
        break;
    }
    prompt.validate("prompt");
    output.validate("output");
    if (shared_prefix < 0)
        throw Error("the shared prefix cannot be negative, got " + std::to_string(shared_prefix) + " tokens");
    if (prefix_groups < 1)
        throw Error("the shared prefix needs at least one group, got " + std::to_string(prefix_groups));
}

std::vector<Request> generate_requests(const TrafficSpec& spec)
{
    spec.validate();
    // Separate streams for gaps and lengths: changing the rate keeps every request's lengths.
    std::mt19937_64 gaps(spec.seed), lengths(spec.seed ^ 0x9e3779b97f4a7c15ull);
    std::vector<Request> requests(std::size_t(spec.requests));
    double t = 0;
    const Arrivals& a = spec.arrivals;
    std::exponential_distribution<double> exponential(a.kind == Arrivals::Kind::Poisson ? a.rate : 1.0);
    // Gamma gaps with mean 1 / rate and coefficient of variation `burstiness`: shape 1 / cv^2.
    const double shape = 1.0 / (a.burstiness * a.burstiness);
    std::gamma_distribution<double> gamma(shape, 1.0 / (shape * std::max(a.rate, 1e-300)));
    for (std::size_t i = 0; i < requests.size(); ++i) {
        Request& r = requests[i];
        r.id = std::int64_t(i);
        if (a.kind == Arrivals::Kind::Poisson)
            t += exponential(gaps);
        else if (a.kind == Arrivals::Kind::Gamma)
            t += gamma(gaps);
        r.arrival_s = t;
        r.prompt = draw(spec.prompt, lengths);
        r.output = draw(spec.output, lengths);
        if (spec.shared_prefix > 0) {
            r.prefix = "system-" + std::to_string(i % std::size_t(spec.prefix_groups));
            r.prefix_tokens = std::min(spec.shared_prefix, r.prompt);
        }
    }
    return requests;
}

std::vector<Request> parse_trace_csv(std::string_view text, const std::string& source)
{
    std::vector<Request> requests;
    int arrival = -1, prompt = -1, output = -1, prefix = -1, prefix_tokens = -1;
    std::size_t columns = 0;
    int line = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        std::string_view row = text.substr(start, end - start);
        start = end + 1;
        ++line;
        if (!row.empty() && row.back() == '\r')
            row.remove_suffix(1);
        if (row.empty())
            continue;
        std::vector<std::string_view> cells;
        for (std::size_t at = 0;;) {
            const std::size_t comma = row.find(',', at);
            cells.push_back(row.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at));
            if (comma == std::string_view::npos)
                break;
            at = comma + 1;
        }
        const std::string where = source + " line " + std::to_string(line);
        if (columns == 0) {
            columns = cells.size();
            for (std::size_t c = 0; c < cells.size(); ++c) {
                if (cells[c] == "arrival_s")
                    arrival = int(c);
                else if (cells[c] == "prompt_tokens")
                    prompt = int(c);
                else if (cells[c] == "output_tokens")
                    output = int(c);
                else if (cells[c] == "prefix_id")
                    prefix = int(c);
                else if (cells[c] == "prefix_tokens")
                    prefix_tokens = int(c);
            }
            if (prefix_tokens >= 0 && prefix < 0)
                throw Error(where + ": prefix_tokens needs a prefix_id column to say which requests share them");
            if (arrival < 0 || prompt < 0 || output < 0)
                throw Error(where
                            + ": the header must name arrival_s, prompt_tokens and output_tokens (prefix_id "
                              "and prefix_tokens are optional)");
            continue;
        }
        if (cells.size() != columns)
            throw Error(where + ": " + std::to_string(cells.size()) + " cells where the header has "
                        + std::to_string(columns));
        Request r;
        r.id = std::int64_t(requests.size());
        r.arrival_s = parse_number(cells[std::size_t(arrival)], where + ", arrival_s");
        const double p = parse_number(cells[std::size_t(prompt)], where + ", prompt_tokens");
        const double o = parse_number(cells[std::size_t(output)], where + ", output_tokens");
        if (r.arrival_s < 0)
            throw Error(where + ", arrival_s: a time before the trace starts ("
                        + std::string(cells[std::size_t(arrival)]) + ")");
        if (p < 1 || o < 1 || p != std::floor(p) || o != std::floor(o) || p > 1e7 || o > 1e7)
            throw Error(where + ": prompt_tokens and output_tokens must be whole numbers from 1, got "
                        + std::string(cells[std::size_t(prompt)]) + " and " + std::string(cells[std::size_t(output)]));
        r.prompt = int(p);
        r.output = int(o);
        if (prefix >= 0)
            r.prefix = std::string(cells[std::size_t(prefix)]);
        if (prefix_tokens >= 0 && !r.prefix.empty()) {
            const std::string_view cell = cells[std::size_t(prefix_tokens)];
            const double shared = parse_number(cell, where + ", prefix_tokens");
            if (shared < 0 || shared != std::floor(shared) || shared > p)
                throw Error(where + ", prefix_tokens: a whole number from 0 to the prompt's " + std::to_string(r.prompt)
                            + " tokens, got " + std::string(cell));
            r.prefix_tokens = int(shared);
        }
        requests.push_back(std::move(r));
    }
    if (columns == 0)
        throw Error(source + ": the trace is empty");
    if (requests.empty())
        throw Error(source + ": the trace has a header and no request");
    std::stable_sort(requests.begin(), requests.end(),
                     [](const Request& a, const Request& b) { return a.arrival_s < b.arrival_s; });
    for (std::size_t i = 0; i < requests.size(); ++i)
        requests[i].id = std::int64_t(i);
    if (prefix >= 0 && prefix_tokens < 0) {
        std::map<std::string, int> shortest;
        for (const Request& r : requests)
            if (!r.prefix.empty()) {
                auto [at, inserted] = shortest.emplace(r.prefix, r.prompt);
                if (!inserted)
                    at->second = std::min(at->second, r.prompt);
            }
        for (Request& r : requests)
            if (!r.prefix.empty())
                r.prefix_tokens = shortest.at(r.prefix);
    }
    return requests;
}

TrafficSpec describe_trace(const std::vector<Request>& requests)
{
    TrafficSpec spec;
    spec.requests = int(requests.size());
    if (requests.empty())
        return spec;
    double prompt = 0, output = 0;
    for (const Request& r : requests) {
        prompt += r.prompt;
        output += r.output;
    }
    const double n = double(requests.size());
    spec.prompt = LengthDistribution::fixed(std::max(1, int(std::lround(prompt / n))));
    spec.output = LengthDistribution::fixed(std::max(1, int(std::lround(output / n))));
    const double span = requests.back().arrival_s - requests.front().arrival_s;
    // All at once (or one request): as fast as the benchmark can send them.
    spec.arrivals.rate = span > 0 ? (n - 1) / span : 1e6;
    return spec;
}

std::vector<Request> read_trace_csv(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("cannot read the trace " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return parse_trace_csv(text.str(), path);
}

} // namespace shard::serving
