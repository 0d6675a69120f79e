#!/usr/bin/env bash
# The GPU figures in one go: which GPU, bench/grid.py and bench/extract.py at their real sizes, and the notebook
# cells flagged `cuda`. Each result lands as a file in the folder given (default bench-results/).
#   bash bench/gpu.sh [OUT_DIR]
# About 5-8 minutes on one H100: most of it drawing 20,000 JPEGs and the original-style extraction loop; bench/ranks.py
# adds two whole runs of ViT-B-32 (random weights) on a 3,000-image synthetic world, one of them under torchrun.
# Needs the package's requirements importable and, for the notebook cells, the dev extras (nbdev_test on the PATH).
# QUICK=1 runs the same steps at the CPU sizes of the test suite, to check the script itself on a machine without a GPU.
# WHEELS=DIR first installs a wheelhouse made by tools/wheelhouse.py (for a GPU machine without internet).
set -uo pipefail
mkdir -p "${1:-bench-results}"
out=$(cd "${1:-bench-results}" && pwd)
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # layeralign from this checkout, installed or not
py=${PYTHON:-python3}
status=0
step() { echo "== $1" >&2; shift; "$@" || { echo "   failed: $*" >&2; status=1; }; }
if [ -n "${WHEELS:-}" ]; then   # a machine without internet: the wheelhouse that tools/wheelhouse.py made for it
    site=${WHEELS_TARGET:-/tmp/layeralign-site}
    step "install $WHEELS into $site" $py -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$site" \
        --find-links "$WHEELS" -r "$WHEELS/requirements.txt"
    export PYTHONPATH="$PYTHONPATH:$site" PATH="$site/bin:$PATH"
fi
if [ -n "${QUICK:-}" ]; then
    grid=(--quick); extract=(--quick); metrics=(--quick); ranks=(--quick); flags=''
else
    grid=(--device cuda); metrics=(--device cuda); ranks=(--device cuda); extract=(--model ViT-B-32 --device cuda --n_images 20000 --num_workers 15); flags=cuda
    step "GPU" nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader -f "$out/gpu.csv"
fi
step "versions" $py -c "import sys, torch, open_clip, layeralign; print(sys.version.split()[0], torch.__version__, open_clip.__version__, layeralign.__version__, torch.cuda.is_available())" > "$out/versions.txt"
# memory, from the formulas (no GPU needed): train_grid's device memory for ViT-B-32, ViT-L-14, ViT-H-14 and the README's
# Llama-3-8B x DINOv2-L on Flickr30k (before and after issue 23), groups on 80 GB, the Llama text batch, the metrics at N
step "bench/memory.py" sh -c "$py bench/memory.py > '$out/memory.json'"
# train_grid: the 13 x 13 grid of a ViT-B-32-sized store, 20 epochs, against the original one-pair-at-a-time loop
step "bench/grid.py ${grid[*]}" $py bench/grid.py "${grid[@]}" --out "$out/grid.json" > /dev/null
# extract: ViT-B-32, all layers of both towers, against the decode-only ceiling and the original loop
step "bench/extract.py ${extract[*]}" sh -c "$py bench/extract.py ${extract[*]} > '$out/extract.json'"
# similarity_grid: platonic-rep's metrics on the 13 x 13 grid, against its per-pair loop
step "bench/metrics.py ${metrics[*]}" sh -c "$py bench/metrics.py ${metrics[*]} > '$out/metrics.json'"
# layeralign run under torchrun, 2 ranks (on 2 GPUs, or both on the one), against one process: same grid, both timed
step "bench/ranks.py ${ranks[*]}" sh -c "$py bench/ranks.py ${ranks[*]} > '$out/ranks.json'"
if [ -n "$flags" ]; then
    step "notebook cells flagged $flags" sh -c "$py tools/run_tests.py --flags $flags > '$out/tests-$flags.txt' 2>&1"
    tail -n 1 "$out/tests-$flags.txt"
fi
ls -l "$out"
exit $status
