#include "serve_options.h"

#include "core/units.h"
#include "serving/trace_export.h"

#include <iostream>

namespace shard::cli {

Traffic build_traffic(const ServeArgs& a)
{
    Traffic t;
    serving::TrafficSpec& traffic = t.spec;
    std::vector<serving::Request>& requests = t.requests;
    std::string& traffic_text = t.text;
    if (!a.trace.empty()) {
        requests = serving::read_trace_csv(a.trace);
        traffic = serving::describe_trace(requests);
        traffic_text = "trace " + a.trace + ", " + std::to_string(requests.size()) + " requests";
    } else {
        traffic.arrivals.kind = a.concurrency > 0   ? serving::Arrivals::Kind::Concurrency
                                : a.burstiness != 1 ? serving::Arrivals::Kind::Gamma
                                                    : serving::Arrivals::Kind::Poisson;
        traffic.arrivals.rate = a.rate;
        traffic.arrivals.burstiness = a.burstiness;
        traffic.arrivals.users = a.concurrency;
        traffic.prompt = serving::LengthDistribution::parse(a.prompt_len);
        traffic.output = serving::LengthDistribution::parse(a.output_len);
        traffic.requests = a.requests;
        traffic.seed = a.seed;
        traffic.shared_prefix = a.shared_prefix;
        traffic.prefix_groups = a.prefix_groups;
        requests = serving::generate_requests(traffic);
        traffic_text =
            (a.concurrency > 0
                 ? std::to_string(a.concurrency) + " concurrent users"
                 : (a.burstiness != 1 ? "gamma arrivals (burstiness " + format_fixed(a.burstiness, 2) + ") at "
                                      : "Poisson arrivals at ")
                       + format_fixed(a.rate, 2) + " requests/s")
            + ", prompt " + a.prompt_len + ", output " + a.output_len + " tokens, " + std::to_string(a.requests)
            + " requests, seed " + std::to_string(a.seed)
            + (a.shared_prefix > 0 ? ", the first " + std::to_string(a.shared_prefix) + " prompt tokens one of "
                                         + std::to_string(a.prefix_groups) + " shared prefixes"
                                   : std::string());
    }
    return t;
}

OrderedJson percentiles_json(const serving::Percentiles& p)
{
    return {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"mean", p.mean}, {"at_slo", p.at_slo}};
}

std::string write_replay_file(const ServeArgs& a, const std::vector<serving::Request>& requests)
{
    if (a.replay_file.empty())
        return {};
    serving::write_mooncake_trace(a.replay_file, requests);
    return a.replay_file;
}

OrderedJson launch_json(const std::vector<serving::LaunchCommands>& commands)
{
    OrderedJson all = OrderedJson::array();
    for (const auto& c : commands)
        all.push_back({{"engine", c.engine},
                       {"serve", c.serve},
                       {"benchmark", c.benchmark},
                       {"replay", c.replay},
                       {"notes", c.notes}});
    return all;
}

void print_launch(const std::vector<serving::LaunchCommands>& commands)
{
    for (const auto& c : commands)
        std::cout << "\n" << c.engine << ":\n" << c.text();
}

void add_serve_options(CLI::App* c, ServeArgs& a)
{
    // The model, machine and dtypes; batch and lengths come from the traffic instead.
    c->add_option("--model,-m", a.workload.model, "Preset id, model JSON or Hugging Face config.json")
        ->capture_default_str();
    c->add_option("--topology,-t", a.workload.topology, "Topology preset id or JSON")->capture_default_str();
    c->add_option("--dtype", a.workload.dtype, "Weights and activations: bf16, fp16, fp8, fp32")->capture_default_str();
    c->add_option("--kv-dtype", a.workload.kv_dtype, "KV cache dtype (default: --dtype)");
    add_tables_option(*c, a.workload.tables);
    c->add_option("--rate", a.rate, "Requests per second (Poisson, or gamma with --burstiness)")->capture_default_str();
    c->add_option("--burstiness", a.burstiness, "Coefficient of variation of the gaps (1: Poisson)")
        ->capture_default_str();
    c->add_option("--concurrency", a.concurrency, "Closed loop: this many users, each waiting for its answer");
    c->add_option("--prompt-len", a.prompt_len, "Prompt tokens: N, uniform:LOW-HIGH or lognormal:MEAN,p90=P90")
        ->capture_default_str();
    c->add_option("--output-len", a.output_len, "Output tokens, the same forms")->capture_default_str();
    c->add_option("--requests", a.requests, "Requests to simulate")->capture_default_str();
    c->add_option("--seed", a.seed, "Seed of the traffic")->capture_default_str();
    c->add_option("--trace", a.trace,
                  "A trace CSV: arrival_s, prompt_tokens, output_tokens[, prefix_id[, prefix_tokens]]");
    c->add_option("--shared-prefix", a.shared_prefix,
                  "Generated traffic: the first N tokens of each prompt are a shared system prompt");
    c->add_option("--prefix-groups", a.prefix_groups, "How many different shared prefixes, taken in turn")
        ->capture_default_str();
    c->add_option("--replay-file", a.replay_file,
                  "Write the simulated requests as a Mooncake trace (JSON lines) and add the AIPerf command that "
                  "replays them at their arrival times to the launch commands");
    c->add_flag("--no-prefix-caching", a.no_prefix_caching,
                "Compute every prompt whole (no reuse of cached prefixes across requests)");
    c->add_option("--max-batched-tokens", a.limits.max_batched_tokens, "Tokens per step (max_num_batched_tokens)")
        ->capture_default_str();
    c->add_flag("--no-chunked-prefill", a.no_chunked_prefill, "Prefill each prompt whole, in one step");
    c->add_option("--block-size", a.limits.block_size, "Tokens per KV-cache block")->capture_default_str();
    c->add_option("--slo-ttft", a.slo.ttft_ms, "TTFT limit, ms (0: none)");
    c->add_option("--slo-tpot", a.slo.tpot_ms, "TPOT limit, ms (0: none)");
    c->add_option("--slo-e2e", a.slo.e2e_ms, "End-to-end limit, ms (0: none)");
    c->add_option("--percentile", a.slo.percentile, "The share of requests the limits hold for")->capture_default_str();
    c->add_option("--usd-per-gpu-hour", a.prices,
                  "Price of one GPU-hour, for the cost per token: USD for every kind, or per kind, "
                  "e.g. \"h100=2.49,h200=3.79\"");
}

} // namespace shard::cli
