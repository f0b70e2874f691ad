// Fuzz target: an event stream (JSON Lines) as shard-engine writes it and the CLI and the
// studio store it: every line parsed and ingested into an in-memory run store.
#include "fuzz_target.h"

#include "store/run_store.h"

#include <sstream>

FUZZ_TARGET(text)
{
    shard::RunStore store(":memory:");
    std::istringstream lines{std::string(text)};
    std::string line;
    while (std::getline(lines, line)) {
        try {
            store.ingest(shard::parse_json_text(line, "event"));
        } catch (const shard::Error&) {
            // a refused line does not end the stream, as in the CLI
        }
    }
    store.flush();
    for (const auto& run : store.list())
        (void)store.decode_ms_by_kind(run.id);
}
