#!/usr/bin/env bash
# Re-render every published table, chart and HTML report from the records in results/ (no new
# measurement): the same `mnist-bench report` commands results/README.md lists beside each folder.
set -euo pipefail
cd "$(dirname "$0")/.."
mb() { "${MNIST_BENCH:-mnist-bench}" "$@"; }
NOGPU="tensorflow:gpu=not run: TensorFlow's GPU wheel is too large to bring to the GPU machine"
# each run's own folder, as `mnist-bench run` wrote it
for run in cpu-keras-cost cpu-keras-cost-rest cpu-batch-sizes cpu-batch-sizes-cnn cpu-decide-a cpu-decide-b cpu-decide-c cpu-decide-d cpu-decide-e cpu-decide-f cpu-decide-g cpu-decide-h cpu-decide-i cpu-decide-j cpu-decide-k cpu-decide-l cpu-decide-tuned cpu-quick-blocks cpu-native cpu-native-rest cpu-bf16 ray-netns seed/cpu seed/cpu-cnn-tf seed/gpu-h100-cnn; do
  mb report "results/$run" --out "results/$run" --html > /dev/null
done
for run in gpu-h100/quick-mlp512 gpu-h100/smoke gpu-h200/default-matrix gpu-h200/batch-mlp512; do
  mb report "results/$run" --out "results/$run" --html --note "$NOGPU" > /dev/null
done
# reports over several stores
mb report results/seed/cpu results/seed/cpu-cnn-tf results/seed/gpu-h100-cnn --out results/seed \
  --note "tensorflow:gpu=no TensorFlow GPU build on the GPU machine" > /dev/null
mb report results/cpu-native results/gpu-h100/quick-mlp512 --out results/machines --note "$NOGPU" > /dev/null
mb report results/pytest-benchmark/tensorflow.json results/pytest-benchmark/jax.json \
  results/pytest-benchmark/torch.json --out results/pytest-benchmark > /dev/null
# the replication pair: how the verdicts of two runs of one plan agree
mb compare results/cpu-decide-a results/cpu-decide-b > results/cpu-decide-replication.md 2> /dev/null || true
mb compare results/cpu-decide-c results/cpu-decide-d > results/cpu-decide-replication-30.md 2> /dev/null || true
mb compare results/cpu-decide-g results/cpu-decide-h > results/cpu-decide-replication-xeon.md 2> /dev/null || true
mb compare results/cpu-decide-i results/cpu-decide-j > results/cpu-decide-replication-xeon-planned.md 2> /dev/null || true
mb compare results/cpu-decide-k results/cpu-decide-l > results/cpu-decide-replication-xeon-moderated.md 2> /dev/null || true
# the HTML report's first screen as a reader sees it (980 x 800), where a headless Chromium is here
if command -v chromium > /dev/null; then
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=980,800 \
    --screenshot="$PWD/results/cpu-decide-c/report-first-screen.png" \
    "file://$PWD/results/cpu-decide-c/report.html" > /dev/null 2>&1 || true
fi
echo "re-rendered every table in results/ from its records"
