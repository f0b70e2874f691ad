// Fuzz target: a .safetensors file given to `run --weights`, for a small model (the one the
// seed in corpus/safetensors was written for: fuzz_model() below).
#include "fuzz_target.h"

#include "run/safetensors.h"

FUZZ_TARGET(bytes)
{
    (void)shard::run::parse_safetensors(shard::fuzz::fuzz_model(), bytes, "weights.safetensors");
}
