"""Magenta's own music_vae_train, unchanged, with tools/magenta/drum_configs.py's configs added:

  python tools/magenta/train.py --config=hierdec-drums_16bar --run_dir=DIR --mode=train \
      --examples_path=groove-train.tfrecord [--hparams=batch_size=64] [--num_steps=N]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tensorflow.compat.v1 as tf  # noqa: E402
from magenta.models.music_vae import music_vae_train  # noqa: E402

import drum_configs  # noqa: E402


def main(unused_argv):
    tf.logging.set_verbosity(music_vae_train.FLAGS.log)
    music_vae_train.run(drum_configs.config_map())


if __name__ == "__main__":
    tf.disable_v2_behavior()
    tf.app.run(main)
