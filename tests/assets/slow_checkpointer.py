"""A training script for restart and spot tests: slow steps, a checkpoint after each, resume from the last.

Prints `step=<n> objective=<value>;` per step and writes model.txt with where it resumed from.
"""

import argparse
import json
import os
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--step_seconds", type=float, default=0.25)
args, _ = parser.parse_known_args()

checkpoints = Path(os.environ.get("SM_CHECKPOINT_DIR", "/opt/ml/checkpoints"))
checkpoints.mkdir(parents=True, exist_ok=True)
state = checkpoints / "state.json"
start = json.loads(state.read_text())["step"] if state.is_file() else 0
if start:
    print(f"resumed from checkpoint at step {start}", flush=True)
for step in range(start + 1, args.steps + 1):
    time.sleep(args.step_seconds)
    print(f"step={step} objective={step / args.steps:.4f};", flush=True)
    tmp = checkpoints / "state.json.tmp"
    tmp.write_text(json.dumps({"step": step}))
    os.replace(tmp, state)
model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
(model_dir / "model.txt").write_text(json.dumps({"steps": args.steps, "resumed_from": start}))
