"""Magenta configs this project adds to Magenta 2.1.4's CONFIG_MAP, defined the way Magenta
defines its own (magenta/models/music_vae/configs.py), so Magenta's own trainer and TrainedModel
run them.

flat-drums_16bar: the paper's flat 16-bar baseline for drums (bidirectional encoder 2048x2, z 512,
flat LSTM decoder 2048x3, free bits 256, beta 0.2), Magenta's flat cat-drums model cut into 16-bar
windows; what models/groove_16bar is, at smaller sizes (--hparams).

hierdec-drums_16bar: Magenta ships no hierarchical drum model; this is its hierdec-mel_16bar
(bidirectional encoder 2048x2, z 512, non-autoregressive conductor and core decoder 1024x2,
free bits 256, beta 0.2) with the cat-drums data converter (9 drum classes, 512-token output,
roll input) cut into 16-bar windows.
"""
from magenta.common import merge_hparams
from magenta.contrib import training as contrib_training
from magenta.models.music_vae import configs
from magenta.models.music_vae import data
from magenta.models.music_vae import lstm_models
from magenta.models.music_vae.base_model import MusicVAE

HParams = contrib_training.HParams

EXTRA_CONFIGS = {
    "hierdec-drums_16bar": configs.Config(
        model=MusicVAE(
            lstm_models.BidirectionalLstmEncoder(),
            lstm_models.HierarchicalLstmDecoder(
                lstm_models.CategoricalLstmDecoder(), level_lengths=[16, 16], disable_autoregression=True)),
        hparams=merge_hparams(
            lstm_models.get_default_hparams(),
            HParams(batch_size=512, max_seq_len=256, z_size=512, enc_rnn_size=[2048, 2048],
                    dec_rnn_size=[1024, 1024], free_bits=256, max_beta=0.2)),
        note_sequence_augmenter=None,
        data_converter=data.DrumsConverter(max_bars=100, slice_bars=16, steps_per_quarter=4, roll_input=True),
        train_examples_path=None,
        eval_examples_path=None,
    ),
    "flat-drums_16bar": configs.Config(
        model=MusicVAE(lstm_models.BidirectionalLstmEncoder(), lstm_models.CategoricalLstmDecoder()),
        hparams=merge_hparams(
            lstm_models.get_default_hparams(),
            HParams(batch_size=512, max_seq_len=256, z_size=512, enc_rnn_size=[2048, 2048],
                    dec_rnn_size=[2048, 2048, 2048], free_bits=256, max_beta=0.2)),
        note_sequence_augmenter=None,
        data_converter=data.DrumsConverter(max_bars=100, slice_bars=16, steps_per_quarter=4, roll_input=True),
        train_examples_path=None,
        eval_examples_path=None,
    ),
}


def config_map():
    """Magenta's CONFIG_MAP with the configs above added."""
    merged = dict(configs.CONFIG_MAP)
    merged.update(EXTRA_CONFIGS)
    return merged
