#!/usr/bin/env bash
# The GPU figures in one go: which GPU, bench/grid.py and bench/extract.py at their real sizes, and the notebook
# cells flagged `cuda`. Each result lands as a file in the folder given (default bench-results/).
#   bash bench/gpu.sh [OUT_DIR]
# About 5-8 minutes on one H100: most of it drawing 20,000 JPEGs and the original-style extraction loop.
set -uo pipefail
out=${1:-bench-results}
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
status=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv" || status=1
python -c "import torch, open_clip; print(torch.__version__, open_clip.__version__, torch.cuda.get_device_name())" \
    > "$out/versions.txt" || status=1
# issue 5: the 13 x 13 grid of a ViT-B-32-sized store, 20 epochs, against the original one-pair-at-a-time loop
python bench/grid.py --device cuda --out "$out/grid.json" > /dev/null || status=1
# issue 4: extraction of ViT-B-32 (all layers, both towers) against the decode-only ceiling and the original loop
python bench/extract.py --model ViT-B-32 --device cuda --n_images 20000 --num_workers 15 > "$out/extract.json" || status=1
# the notebook cells that need a GPU
python tools/run_tests.py --flags cuda > "$out/tests-cuda.txt" 2>&1 || status=1
tail -n 1 "$out/tests-cuda.txt"
exit $status
