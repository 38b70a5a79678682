"""A training script with a known learning curve, for tuning tests.

objective(epoch) = quality * (1 - 0.5 ** epoch), printed once per epoch as `epoch=<n> objective=<v>;`,
where quality = 1 - (x - 0.7) ** 2 for the tuned `x` in [0, 1] (best at 0.7). `--fail_below` makes the job
fail when x is below it, for tests of failed jobs.
"""

import argparse
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, default=0.5)
parser.add_argument("--kind", default="a")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--epoch_seconds", type=float, default=0.1)
parser.add_argument("--fail_below", type=float, default=-1.0)
args, _ = parser.parse_known_args()

if args.x < args.fail_below:
    sys.exit(f"x={args.x} is below fail_below={args.fail_below}")
quality = 1.0 - (args.x - 0.7) ** 2 - (0.05 if args.kind == "b" else 0.0)
for epoch in range(1, args.epochs + 1):
    time.sleep(args.epoch_seconds)
    print(f"epoch={epoch} objective={quality * (1 - 0.5**epoch):.6f};", flush=True)
