"""Are preprocess's windows the windows Magenta's own DrumsConverter cuts from the same MIDI files?

  python tools/magenta/compare_windows.py --groove groove-v1.0.0-midionly.zip --shards shards2 \
      [--config cat-drums_2bar_small] [--report differences.json]

Every MIDI file of the Groove zip (or folder) is read by note_seq.midi_to_note_sequence and cut by
the config's own DrumsConverter (eval mode, every window kept: max_tensors_per_notesequence off);
the shards' windows of each file (all splits) are compared with Magenta's as multisets of token
sequences. Both sides drop a window equal to an earlier one of its piece, so the multisets must be
equal. Prints the counts, lists the files that differ and exits 1 when any does.
Run with the Magenta environment's Python (launch/setup.sh --magenta).
"""
import argparse
import collections
import glob
import json
import multiprocessing
import os
import sys
import zipfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def midi_files(groove):
    """{path as the manifest names it (from the folder holding info.csv): where to read it}."""
    if zipfile.is_zipfile(groove):
        names = zipfile.ZipFile(groove).namelist()
        info = [n for n in names if n.endswith("info.csv")]
        root = info[0][: -len("info.csv")] if info else ""
        return {n[len(root):]: n for n in names if n.lower().endswith((".mid", ".midi")) and n.startswith(root)}
    names = glob.glob(os.path.join(groove, "**", "*.mid"), recursive=True)
    return {os.path.relpath(n, groove): n for n in names}


def our_windows(shards):
    """{manifest file path: Counter of token tuples} over every split's shards."""
    manifest = json.load(open(os.path.join(shards, "manifest.json")))
    paths = [f["path"] for f in manifest["files"]]
    windows = collections.defaultdict(collections.Counter)
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            with h5py.File(os.path.join(shards, shard["file"]), "r") as f:
                tokens, file_id = f["tokens"][:], f["file_id"][:]
            for row, fid in zip(tokens, file_id):
                windows[paths[fid]][tuple(int(t) for t in row)] += 1
    return windows, manifest


_CONVERTER = None
_ARCHIVE = None


def _init_worker(config_name, groove):
    global _CONVERTER, _ARCHIVE
    import drum_configs  # noqa: E402  (TensorFlow and Magenta load in each worker)
    _CONVERTER = drum_configs.config_map()[config_name].data_converter
    _CONVERTER.set_mode("eval")
    _CONVERTER.max_tensors_per_notesequence = None  # every window, not the first 5
    _ARCHIVE = zipfile.ZipFile(groove) if zipfile.is_zipfile(groove) else None


def magenta_windows(item):
    """(path, Counter of token tuples Magenta's converter cuts, error or None)."""
    import note_seq
    path, location = item
    try:
        data = _ARCHIVE.read(location) if _ARCHIVE else open(location, "rb").read()
        sequence = note_seq.midi_to_note_sequence(data)
    except Exception as e:  # what note_seq cannot read, preprocess must skip too
        return path, collections.Counter(), "%s: %s" % (type(e).__name__, e)
    tensors = _CONVERTER.to_tensors(sequence)
    return path, collections.Counter(tuple(int(t) for t in np.argmax(o, axis=-1)) for o in tensors.outputs), None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groove", required=True, help="the Groove zip or its unpacked folder")
    parser.add_argument("--shards", required=True, help="preprocess's output folder for the same dataset")
    parser.add_argument("--config", default="cat-drums_2bar_small", help="whose DrumsConverter cuts the windows")
    parser.add_argument("--report", help="write every difference here as JSON")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()

    ours, manifest = our_windows(args.shards)
    files = midi_files(args.groove)
    with multiprocessing.Pool(args.jobs, _init_worker, (args.config, args.groove)) as pool:
        theirs = pool.map(magenta_windows, sorted(files.items()), chunksize=8)

    differences = []
    counts = collections.Counter()
    for path, magenta, error in theirs:
        mine = ours.get(path, collections.Counter())
        counts["files"] += 1
        counts["magenta_windows"] += sum(magenta.values())
        counts["our_windows"] += sum(mine.values())
        if error:
            counts["note_seq_errors"] += 1
        if mine == magenta:
            continue
        only_ours, only_magenta = mine - magenta, magenta - mine
        differences.append({"file": path, "ours": sum(mine.values()), "magenta": sum(magenta.values()),
                            "only_ours": sum(only_ours.values()), "only_magenta": sum(only_magenta.values()),
                            "note_seq_error": error,
                            "first_only_ours": list(next(iter(only_ours), ())),
                            "first_only_magenta": list(next(iter(only_magenta), ()))})
    counts["files_differing"] = len(differences)
    counts["windows_only_ours"] = sum(d["only_ours"] for d in differences)
    counts["windows_only_magenta"] = sum(d["only_magenta"] for d in differences)
    print("compare_windows: " + ", ".join("%s %d" % kv for kv in sorted(counts.items())))
    for d in differences[:20]:
        print("  %s: ours %d, Magenta's %d (%d only ours, %d only Magenta's)%s" % (
            d["file"], d["ours"], d["magenta"], d["only_ours"], d["only_magenta"],
            "; note_seq: " + d["note_seq_error"] if d["note_seq_error"] else ""))
    if len(differences) > 20:
        print("  ... and %d more files" % (len(differences) - 20))
    if args.report:
        json.dump({"counts": counts, "differences": differences}, open(args.report, "w"), indent=1)
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
