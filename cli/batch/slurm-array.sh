#!/bin/bash
# A sweep of 8000 seeds as a Slurm job array of 8 tasks, then a merge job that waits for all of
# them:  bash slurm-array.sh   (submits both).  A requeued task resumes from its results file.
set -euo pipefail

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
  job=$(sbatch --parsable --array=0-7 --cpus-per-task=2 --job-name=simctl-sweep "$0")
  sbatch --dependency="afterok:${job}" --job-name=simctl-merge \
    --wrap="simctl merge results/shard-* --out results/merged"
  echo "submitted sweep ${job} and its merge"
  exit 0
fi

simctl sweep scenarios/kv_quorum.ron --seeds 0..8000 \
  --shard "${SLURM_ARRAY_TASK_ID}/8" --jobs "${SLURM_CPUS_PER_TASK:-1}" \
  --out "results/shard-${SLURM_ARRAY_TASK_ID}"
