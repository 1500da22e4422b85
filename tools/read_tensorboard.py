#!/usr/bin/env python3
"""Prints the scalars of a TensorBoard event folder as TensorBoard itself reads them, as JSON:
{"tag": [[step, value], ...], ...}. Used by the test that checks `train`'s event files
(TensorBoard.ReadsTheScalarsTrainWrites); needs the `tensorboard` package (launch/setup.sh --torch2
installs it beside PyTorch).

  python tools/read_tensorboard.py runs/a/tensorboard
"""
import json
import sys

from tensorboard.backend.event_processing import event_accumulator


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    # size_guidance 0: keep every scalar (the default samples 10,000 per tag).
    acc = event_accumulator.EventAccumulator(sys.argv[1], size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    out = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
