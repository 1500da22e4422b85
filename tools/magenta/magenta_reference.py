"""What Magenta's own MusicVAE graph computes from a checkpoint on windows of a NoteSequence
TFRecord, as .npy files the C++ tests compare ours with (tests/magenta_test.cpp):

  python tools/magenta/magenta_reference.py --config cat-drums_2bar_small --checkpoint RUN/train \
      --examples groove-train.tfrecord --windows 16 --out ref/

Windows come from the config's own data converter (DrumsConverter, GrooveConverter), in eval mode.
Written (float32): targets.npy (tokens [N, T] for token models, the [N, T, 27] groove vectors
otherwise), inputs.npy (what Magenta's encoder reads), mu.npy and sigma.npy [N, Z],
logits.npy [N, T, V] (teacher-forced, z = mu), r_loss.npy and kl.npy [N] (nats), and meta.json
(global_step, beta, free_nats, loss = mean r_loss + beta * mean max(kl - free_nats, 0), the
objective of Magenta's base_model.MusicVAE._compute_model_loss with z = mu).
With --trained-model, also trained_model_mu.npy: Magenta's TrainedModel loading the checkpoint.
Also checks that Magenta's drum roll is the token's class bits plus a "no drums" bit, which is
how our encoder computes it from a token.
"""
import argparse
import copy
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow.compat.v1 as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
import note_seq  # noqa: E402

import drum_configs  # noqa: E402


def windows(converter, examples, count):
    """(inputs, outputs) of the first `count` windows the converter makes from the examples."""
    converter.set_mode("eval")
    inputs, outputs = [], []
    for record in tf.io.tf_record_iterator(examples):
        tensors = converter.to_tensors(note_seq.NoteSequence.FromString(record))
        for i, o in zip(tensors.inputs, tensors.outputs):
            inputs.append(np.asarray(i, np.float32))
            outputs.append(np.asarray(o, np.float32))
            if len(inputs) == count:
                return np.stack(inputs), np.stack(outputs)
    if not inputs:
        sys.exit("magenta_reference: no windows in %s" % examples)
    return np.stack(inputs), np.stack(outputs)


def check_roll_is_token_bits(inputs, tokens):
    bits = (tokens[..., None].astype(np.int64) >> np.arange(9)) & 1
    roll = np.concatenate([bits, (tokens == 0)[..., None]], -1).astype(np.float32)
    if not np.array_equal(roll, inputs):
        sys.exit("magenta_reference: Magenta's drum roll is not the token's class bits + 'no drums'")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--checkpoint", required=True, help="checkpoint prefix or the folder holding `checkpoint`")
    parser.add_argument("--examples", required=True, help="TFRecord of NoteSequences")
    parser.add_argument("--windows", type=int, default=16)
    parser.add_argument("--hparams", default="", help="the --hparams the checkpoint was trained with (sizes)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--trained-model", action="store_true",
                        help="also load the checkpoint with Magenta's TrainedModel and write its encode_tensors mean "
                             "(trained_model_mu.npy): what a Magenta user's code gets")
    args = parser.parse_args()
    tf.disable_v2_behavior()
    prefix = tf.train.latest_checkpoint(args.checkpoint) if os.path.isdir(args.checkpoint) else args.checkpoint
    config = drum_configs.config_map()[args.config]
    if args.hparams:
        config.hparams.parse(args.hparams)
    pristine = copy.deepcopy(config)  # TrainedModel copies its config, which a built model cannot be
    inputs, outputs = windows(config.data_converter, args.examples, args.windows)
    n, steps = outputs.shape[0], outputs.shape[1]
    hparams = config.hparams
    hparams.batch_size = n
    # Teacher forcing: built for evaluation, a config with a sampling schedule would feed back its
    # own samples at every step (lstm_utils.get_sampling_probability returns 1 outside training).
    hparams.sampling_schedule, hparams.sampling_rate = "constant", 0.0
    model = config.model
    model.build(hparams, config.data_converter.output_depth, is_training=False)
    lengths = tf.fill([n], steps)
    q = model.encode(tf.constant(inputs), lengths)
    mu, sigma = q.loc, q.scale.diag
    target = tf.constant(outputs)
    x_input = tf.pad(target[:, :-1], [(0, 0), (1, 0), (0, 0)])
    r_loss, _, decoded = model.decoder.reconstruction_loss(x_input, target, lengths, z=mu)
    prior = tfp.distributions.MultivariateNormalDiag(loc=tf.zeros_like(mu), scale_diag=tf.ones_like(mu))
    kl = tfp.distributions.kl_divergence(q, prior)
    with tf.Session() as session:
        tf.train.Saver().restore(session, prefix)
        step = int(tf.train.load_checkpoint(prefix).get_tensor("global_step"))
        mu_v, sigma_v, logits_v, r_loss_v, kl_v = session.run([mu, sigma, decoded.rnn_output, r_loss, kl])
    token_model = config.data_converter.output_depth == 512
    targets = outputs.argmax(-1).astype(np.float32) if token_model else outputs
    if token_model and inputs.shape[-1] == 10:
        check_roll_is_token_bits(inputs, targets)
    beta = (1.0 - hparams.beta_rate ** step) * hparams.max_beta
    free_nats = hparams.free_bits * np.log(2.0)
    loss = float(r_loss_v.mean() + beta * np.maximum(kl_v - free_nats, 0).mean())
    os.makedirs(args.out, exist_ok=True)
    for name, value in [("targets", targets), ("inputs", inputs), ("mu", mu_v), ("sigma", sigma_v),
                        ("logits", logits_v), ("r_loss", r_loss_v), ("kl", kl_v)]:
        np.save(os.path.join(args.out, name + ".npy"), np.ascontiguousarray(value, np.float32))
    meta = {"config": args.config, "checkpoint": prefix, "global_step": step, "beta": beta,
            "free_nats": free_nats, "loss": loss, "windows": int(n)}
    if args.trained_model:
        from magenta.models.music_vae import TrainedModel
        trained = TrainedModel(pristine, batch_size=n, checkpoint_dir_or_path=prefix)
        _, trained_mu, _ = trained.encode_tensors(list(inputs), [steps] * n)
        np.save(os.path.join(args.out, "trained_model_mu.npy"), np.ascontiguousarray(trained_mu, np.float32))
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print("magenta_reference: %d windows of %s at step %d: loss %.4f" % (n, args.config, step, loss), file=sys.stderr)


if __name__ == "__main__":
    main()
