#!/usr/bin/env bash
# The one script run on a lent GPU machine (see BENCHMARKS.md): the engine built here is
# carried in .devcarry/ (bin, share, the OpenBLAS it links); CUDA, cuBLAS, NCCL and PyTorch
# are the machine's. At most 8 files land in $OUT.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
cuda_lib=$(dirname "$(find /usr/local /usr/lib /opt -name 'libcublas.so.13' 2>/dev/null | head -1)")
nccl_lib=$(dirname "$(find /usr/lib /usr/local /opt -name 'libnccl.so.2' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$PWD/.devcarry/lib:$cuda_lib:$nccl_lib:${LD_LIBRARY_PATH:-}"
E=.devcarry/bin/shard-engine
{ nvidia-smi; "$E" --version; "$E" devices; } > "$OUT/env.txt" 2>&1
{
  timeout 240 "$E" selftest --json > "$OUT/selftest.jsonl" 2> /tmp/s.txt; echo "selftest rc=$?"; grep -v "^PASS" /tmp/s.txt
  fails=0
  for i in 1 2 3 4; do timeout 20 "$E" selftest --dtype fp32 --filter "tiny-dense TP8" --prompt 32 --generate 16 > /dev/null 2>&1 || fails=$((fails+1)); done
  echo "tiny-dense TP8, prompt 32, 16 decode steps: $fails of 4 fresh processes failed"
  timeout 30 "$E" run plans/tiny-dense-dgx-h100-tp8.shardplan.json --backend cuda-emulated --dtype fp32 > /tmp/run.jsonl 2> /tmp/run.txt; echo "run rc=$?"
  tr '\r' '\n' < /tmp/run.txt | tail -2; tail -1 /tmp/run.jsonl | cut -c1-600
  timeout 20 "$E" run plans/tiny-dense-dgx-h100-tp8.shardplan.json --backend cuda 2>&1 | tail -1; echo "cuda (8 GPUs asked, 1 present) rc=$?"
  # SUMMA's broadcasts, one after another and double-buffered behind the GEMMs.
  for ov in off on; do
    timeout 30 "$E" run plans/tiny-dense-summa-2x2.shardplan.json --backend cuda-emulated --dtype bf16 --overlap $ov > /tmp/summa.jsonl 2> /tmp/summa.txt
    echo "summa 2x2 overlap $ov rc=$?"; tail -1 /tmp/summa.jsonl | cut -c1-500
  done
} > "$OUT/check.txt" 2>&1
cat "$OUT/check.txt" | cut -c1-300
timeout 150 "$E" bench --json "$OUT/bench.json" > "$OUT/bench.md" 2>&1; echo "bench rc=$?" >> "$OUT/bench.md"
grep -A20 "^| layer step | TP | measured" "$OUT/bench.md" | head -20
PYTHONUNBUFFERED=1 timeout 100 python3 tests/bench/torch_layer.py > "$OUT/torch.json" 2> "$OUT/torch.txt"; echo "torch rc=$?" >> "$OUT/torch.txt"
tail -2 "$OUT/torch.txt"
# This machine's profile (quick sweep): stored in a scratch run database, its tables in one
# archive to commit beside the shipped ones.
mkdir -p /tmp/profile
timeout 150 "$E" profile --quick --db /tmp/profile.db --out /tmp/profile > /tmp/profile/events.jsonl 2> /tmp/profile/log.txt
echo "profile rc=$?" >> /tmp/profile/log.txt
tr '\r' '\n' < /tmp/profile/log.txt | tail -6
tar -C /tmp -cf "$OUT/profile.tar" profile
