#!/usr/bin/env bash
# A sample job: prints a few lines over time (titan run streams them live) and exits 0.
echo "hello from job ${TITAN_JOB_ID:-?} (attempt ${TITAN_ATTEMPT:-?}) on worker ${TITAN_WORKER_ID:-?}"
for i in 1 2 3; do
  echo "step $i/3"
  sleep 0.2
done
echo "done" >&2
