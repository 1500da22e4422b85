"""Magenta's own music_vae_train, unchanged, with tools/magenta/drum_configs.py's configs added:

  python tools/magenta/train.py --config=hierdec-drums_16bar --run_dir=DIR --mode=train \
      --examples_path=groove-train.tfrecord [--hparams=batch_size=64] [--num_steps=N] [--summary_steps=1] [--bf16]

--summary_steps: how often the training summaries (loss, losses/r_loss, losses/kl_bits, ...) are
written (music_vae_train leaves tf_slim's default, every 100 steps); only the logging changes, so
a run can be drawn step by step beside ours (tools/magenta/events_to_metrics.py).
--bf16: TensorFlow's own oneDNN bfloat16 rewrite of the graph (auto_mixed_precision_onednn_bfloat16,
for CPUs with AMX or AVX-512 BF16): matrix products in bfloat16, variables float32, as our
`train --precision bf16` does; for the throughput comparison at equal precision.
"""
import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tensorflow.compat.v1 as tf  # noqa: E402
import tf_slim  # noqa: E402
from absl import flags  # noqa: E402
from magenta.models.music_vae import music_vae_train  # noqa: E402

import drum_configs  # noqa: E402

flags.DEFINE_integer("summary_steps", 100, "write the training summaries every this many steps")
flags.DEFINE_bool("bf16", False, "TensorFlow's oneDNN bfloat16 mixed precision graph rewrite")


def session_config():
    from tensorflow.core.protobuf import rewriter_config_pb2
    config = tf.ConfigProto()
    config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = rewriter_config_pb2.RewriterConfig.ON
    return config


def main(unused_argv):
    tf.logging.set_verbosity(music_vae_train.FLAGS.log)
    options = {}
    if music_vae_train.FLAGS.summary_steps != 100:
        options["save_summaries_steps"] = music_vae_train.FLAGS.summary_steps
    if music_vae_train.FLAGS.bf16:
        options["config"] = session_config()
    if options:
        tf_slim.training.train = functools.partial(tf_slim.training.train, **options)
    music_vae_train.run(drum_configs.config_map())


if __name__ == "__main__":
    tf.disable_v2_behavior()
    tf.app.run(main)
