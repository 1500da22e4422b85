"""Reads a Magenta.js model folder (`magenta export-js`) with TensorFlow.js's own weights reader
(tensorflowjs.read_weights, the Python twin of tf.io.loadWeights) and checks it against a
TensorFlow checkpoint of the same model (`magenta export`): every model variable there, with the
same shape and values (to float32 rounding); config.json names MusicVAE and a data converter Magenta.js has.

  python tools/magenta/check_magenta_js.py --js web/drums --checkpoint magenta/model.ckpt-0
"""
import argparse
import importlib.util
import json
import os
import sys
import types

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tfjs_read_weights():
    # The package's __init__ imports its converters (and TensorFlow Decision Forests with them);
    # the weights reader needs only numpy, so load the package's folder without its __init__.
    spec = importlib.util.find_spec("tensorflowjs")
    package = types.ModuleType("tensorflowjs")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["tensorflowjs"] = package
    from tensorflowjs import read_weights
    return read_weights.read_weights


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--js", required=True)
    parser.add_argument("--checkpoint", required=True)
    args = parser.parse_args()
    with open(os.path.join(args.js, "config.json")) as f:
        spec = json.load(f)
    if spec.get("type") != "MusicVAE" or spec["dataConverter"]["type"] not in ("DrumsConverter", "GrooveConverter"):
        sys.exit("check_magenta_js: config.json is not a MusicVAE with a drum converter: %s" % spec)
    with open(os.path.join(args.js, "weights_manifest.json")) as f:
        manifest = json.load(f)
    weights = {w["name"]: w["data"] for group in tfjs_read_weights()(manifest, args.js) for w in group}
    import tensorflow as tf
    reader = tf.train.load_checkpoint(args.checkpoint)
    # The model's variables: not the step, not Adam's slots and powers (a training checkpoint's).
    names = [n for n in reader.get_variable_to_shape_map()
             if n != "global_step" and not n.endswith(("/Adam", "/Adam_1")) and not n.endswith("_power")]
    missing = sorted(set(names) - set(weights))
    extra = sorted(set(weights) - set(names))
    if missing or extra:
        sys.exit("check_magenta_js: variables missing %s, not in the checkpoint %s" % (missing, extra))
    worst = max(float(np.max(np.abs(weights[n] - reader.get_tensor(n)))) for n in names)
    # Up to float32 rounding: our LSTM biases hold Magenta's forget bias of 1 added, and export takes it off.
    if worst > 1e-6:
        sys.exit("check_magenta_js: weights differ from the checkpoint's by up to %g" % worst)
    print("check_magenta_js: %d variables read by TensorFlow.js's reader equal the checkpoint's (largest difference %g; %s)"
          % (len(names), worst, spec["dataConverter"]["type"]))


if __name__ == "__main__":
    main()
