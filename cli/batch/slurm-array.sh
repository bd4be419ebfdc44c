#!/bin/bash
# A sweep of 8000 seeds as a Slurm job array of 8 tasks, then a merge job that waits for all of
# them:  bash slurm-array.sh   (submits both).  A requeued task resumes from its results file.
set -euo pipefail

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
  job=$(sbatch --parsable --array=0-7 --cpus-per-task=2 --job-name=simctl-sweep "$0")
  merge=$(sbatch --parsable --dependency="afterok:${job}" --job-name=simctl-merge \
    --wrap="simctl merge results/shard-*/results.jsonl --seeds 0..8000 --out results/merged --scenario scenarios/dynamo_partition.ron --junit results/merged/junit.xml")
  echo "submitted sweep ${job} and its merge ${merge}"
  exit 0
fi

simctl sweep scenarios/dynamo_partition.ron --seeds 0..8000 \
  --shard "${SLURM_ARRAY_TASK_ID}/8" --jobs "${SLURM_CPUS_PER_TASK:-1}" \
  --out "results/shard-${SLURM_ARRAY_TASK_ID}" --no-progress \
  || [ $? -eq 1 ] # exit 1: some seed failed, a finding for the merge; not a task failure (afterok)
