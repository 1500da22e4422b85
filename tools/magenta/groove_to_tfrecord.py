"""Groove MIDI files as a TFRecord of NoteSequences: what Magenta's music_vae_train reads.

  python tools/magenta/groove_to_tfrecord.py --groove groove-v1.0.0-midionly.zip \
      --split train --out groove-train.tfrecord [--limit 40] [--beat-only]

Each performance is converted with note_seq.midi_file_to_note_sequence, as Magenta's own
convert_dir_to_note_sequences does; Magenta's DrumsConverter then slices the windows itself.
Run with the Magenta environment's Python (launch/setup.sh --magenta).
"""
import argparse
import csv
import io
import os
import sys
import zipfile

import note_seq
import tensorflow as tf


def performances(groove, split, beat_only):
    """(midi bytes, id) of each file of a split, in info.csv's order."""
    if zipfile.is_zipfile(groove):
        archive = zipfile.ZipFile(groove)
        root = next(n for n in archive.namelist() if n.endswith("info.csv"))[: -len("info.csv")]
        read = lambda name: archive.read(root + name)
    else:
        root = groove
        read = lambda name: open(os.path.join(root, name), "rb").read()
    rows = csv.DictReader(io.StringIO(read("info.csv").decode("utf-8")))
    for row in rows:
        if row["split"] != split or (beat_only and row["beat_type"] != "beat"):
            continue
        if row["time_signature"] != "4-4":  # DrumsConverter's 16 steps per bar assume 4/4
            continue
        yield read(row["midi_filename"]), row["id"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groove", required=True, help="the Groove zip or its unpacked folder")
    parser.add_argument("--split", default="train", choices=["train", "validation", "test"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--limit", type=int, default=0, help="at most this many files (0: all)")
    parser.add_argument("--beat-only", action="store_true", help="beats only, no fills")
    args = parser.parse_args()
    written = 0
    tmp = args.out + ".tmp-%d" % os.getpid()
    with tf.io.TFRecordWriter(tmp) as writer:
        for midi, name in performances(args.groove, args.split, args.beat_only):
            sequence = note_seq.midi_to_note_sequence(midi)
            sequence.id = name
            writer.write(sequence.SerializeToString())
            written += 1
            if args.limit and written >= args.limit:
                break
    os.replace(tmp, args.out)
    print("groove_to_tfrecord: %d NoteSequences of the %s split -> %s" % (written, args.split, args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
