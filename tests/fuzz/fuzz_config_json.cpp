// Fuzz target: a model file as the studio and `--model` read it, a Hugging Face
// config.json or ShardStudio's own model JSON. Any Error is an answer; anything else
// (a crash, a sanitizer report, another exception) is a finding.
#include "fuzz_target.h"

#include "core/hf_import.h"
#include "core/model_json.h"

FUZZ_TARGET(text)
{
    const shard::Json json = shard::parse_json_text(text, "config.json");
    const shard::ModelSpec model = shard::looks_like_hf_config(json) ? shard::import_hf_config(json, "config.json")
                                                                     : shard::model_from_json(json, "model.json");
    // What every view computes of a model that was accepted.
    (void)model.total_params();
    (void)model.kv_cache_bytes_per_token();
    (void)shard::dump_json(shard::model_to_json(model));
}
