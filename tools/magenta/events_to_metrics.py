#!/usr/bin/env python3
"""A Magenta training run's summaries as our metrics.jsonl, so `evaluate --curve` draws Magenta's
run beside ours with the same code:

  python tools/magenta/events_to_metrics.py RUN_DIR/train --every 25 --out magenta-metrics.jsonl

Magenta's `loss`, `losses/r_loss` and `losses/kl_bits` become our `loss`, `r_loss` and `kl_bits`
(the same quantities: nats per sequence, KL in bits; checked against Magenta's graph by the
MagentaInterop tests). Magenta's summary at global_step s is of its s-th batch (tf_slim records
the step counter after the update: the first summary, at step 1, is the loss of the fresh model),
as ours counts steps; each line is the mean over the `--every` steps it closes, as our progress
lines are (the run must write a summary every step: tools/magenta/train.py --summary_steps=1).
"""
import argparse
import json
import sys

from tensorboard.backend.event_processing import event_accumulator

TAGS = {"loss": "loss", "losses/r_loss": "r_loss", "losses/kl_bits": "kl_bits"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("train_dir")
    p.add_argument("--every", type=int, default=25)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    acc = event_accumulator.EventAccumulator(a.train_dir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    missing = [t for t in TAGS if t not in acc.Tags()["scalars"]]
    if missing:
        print(f"events_to_metrics: {a.train_dir} has no summaries {missing}: is it a music_vae_train run's train/ "
              "folder?", file=sys.stderr)
        return 1
    by_step = {}
    for tag, key in TAGS.items():
        for e in acc.Scalars(tag):
            by_step.setdefault(e.step, {})[key] = e.value
    steps = sorted(s for s, v in by_step.items() if len(v) == len(TAGS))
    if len(steps) < 2 or steps[1] - steps[0] != 1:
        print(f"events_to_metrics: {a.train_dir}: summaries are not written every step (run it with "
              "--summary_steps=1)", file=sys.stderr)
        return 1
    with open(a.out, "w") as out:
        for end in range(a.every, steps[-1] + 1, a.every):
            window = [by_step[s] for s in range(end - a.every + 1, end + 1) if s in by_step]
            if not window:
                continue
            record = {"step": end}
            for key in TAGS.values():
                record[key] = sum(w[key] for w in window) / len(window)
            out.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
