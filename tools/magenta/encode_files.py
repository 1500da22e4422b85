"""What Magenta's TrainedModel makes of whole MIDI files: its config's converter cuts every window
of each file (inference mode, every window kept) and TrainedModel.encode_tensors gives their
posterior means; the files themselves are copied out so our side reads the same bytes
(tests/magenta_test.cpp, MagentaInterop.*FromMidi*).

  python tools/magenta/encode_files.py --config cat-drums_2bar_small --checkpoint RUN/train \
      --groove groove-v1.0.0-midionly.zip --split test --out ref/ [--hparams enc_rnn_size=[64],...]

Written: midi/NNNN.mid (the split's files in info.csv's order), files.json ([{file, path, windows,
error}]: each file's window count, rows in that order), inputs.npy [N, T, D] (what the encoder
reads), mu.npy [N, Z], decoded.npy (the argmax decode of mu: tokens [N, T] or groove vectors
[N, T, 27]). Run with the Magenta environment's Python (launch/setup.sh --magenta).
"""
import argparse
import copy
import csv
import io
import json
import os
import sys
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import note_seq  # noqa: E402
from magenta.models.music_vae import TrainedModel  # noqa: E402

import drum_configs  # noqa: E402


def split_files(groove, split):
    """(dataset path, bytes) of each file of a split, in info.csv's order."""
    archive = zipfile.ZipFile(groove)
    root = next(n for n in archive.namelist() if n.endswith("info.csv"))[: -len("info.csv")]
    rows = csv.DictReader(io.StringIO(archive.read(root + "info.csv").decode("utf-8")))
    return [(root + r["midi_filename"], archive.read(root + r["midi_filename"])) for r in rows if r["split"] == split]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--checkpoint", required=True, help="checkpoint prefix or the folder holding `checkpoint`")
    parser.add_argument("--hparams", default="", help="the sizes the checkpoint was trained with")
    parser.add_argument("--groove", required=True, help="the Groove zip")
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--limit", type=int, default=0, help="at most this many files (0: all)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    config = copy.deepcopy(drum_configs.config_map()[args.config])
    if args.hparams:
        config.hparams.parse(args.hparams)
    model = TrainedModel(config, batch_size=64, checkpoint_dir_or_path=args.checkpoint)
    converter = model._config.data_converter  # TrainedModel's own, in its inference mode
    converter.max_tensors_per_notesequence = None  # every window of a file, not the first few

    os.makedirs(os.path.join(args.out, "midi"), exist_ok=True)
    files, inputs = [], []
    for i, (path, data) in enumerate(split_files(args.groove, args.split)):
        if args.limit and i >= args.limit:
            break
        name = "midi/%04d.mid" % i
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        entry = {"file": name, "path": path, "windows": 0, "error": None}
        try:
            tensors = converter.to_tensors(note_seq.midi_to_note_sequence(data))
            entry["windows"] = len(tensors.inputs)
            inputs += [np.asarray(t, np.float32) for t in tensors.inputs]
        except Exception as e:  # noqa: BLE001  (what Magenta cannot read: our side must refuse it too)
            entry["error"] = "%s: %s" % (type(e).__name__, e)
        files.append(entry)
    x = np.stack(inputs)
    _, mu, _ = model.encode_tensors(list(x), [x.shape[1]] * len(x))  # TrainedModel batches and pads
    np.save(os.path.join(args.out, "inputs.npy"), x)
    mu = np.asarray(mu, np.float32)[: len(x)]
    np.save(os.path.join(args.out, "mu.npy"), mu)
    # From the same latents, Magenta's decoder at temperature 1e-6: its argmax (a categorical sample
    # of logits / 1e-6, a Bernoulli of hit logits / 1e-6), with the velocity and offset heads as it
    # feeds them back. Token models: the tokens [N, T]; groove models: [N, T, 27].
    decoded = np.asarray(model.decode_to_tensors(mu, length=x.shape[1], temperature=1e-6), np.float32)[: len(x)]
    if converter.output_depth == 512:
        decoded = np.argmax(decoded, axis=-1).astype(np.float32)
    np.save(os.path.join(args.out, "decoded.npy"), decoded)
    json.dump(files, open(os.path.join(args.out, "files.json"), "w"), indent=1)
    print("encode_files: %d files, %d windows -> %s" % (len(files), len(x), args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
