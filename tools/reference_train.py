#!/usr/bin/env python3
"""Independent plain-PyTorch MusicVAE trainer: the reference our C++ trainer is checked against.

Written from Magenta's music_vae (lstm_models.py, base_model.py), not from our C++ code: torch.nn.LSTM
over one-hot inputs, the decoder's input is [previous token one-hot, z or conductor embedding] at
every step, Magenta's input dropout (DropoutWrapper(input_keep_prob)) on every LSTM layer, loss
mean(r_loss) + beta * mean(max(KL - free_bits * ln 2, 0)), Adam with lr = (lr - min_lr) * decay^step
+ min_lr, global-norm clipping (and no update above 1e4, Magenta's grad_norm_clip_to_zero).
Teacher forcing only (the recipes we compare use no scheduled sampling).

Launched by torchrun it trains data-parallel with PyTorch's DistributedDataParallel (gloo on the
CPU): every rank takes its own --batch windows of one shuffled order per epoch, as `train`'s ranks
do, and the figures are global (seq/s over all ranks). tools/ddp_side_by_side.sh times it beside
`mpirun -np N train` (docs/benchmarks.md, "PyTorch's DistributedDataParallel beside ours"):

  torchrun --standalone --nproc_per_node 2 tools/reference_train.py --data shards2/ --run-dir runs/ddp --threads 1 ...

It reads the same shards as `train` (h5py) and writes metrics.jsonl with the same keys, so
`evaluate --curve` draws its curves and docs/results.md compares the two at equal steps:

  python3 tools/reference_train.py --data shards2/ --run runs/ref --bars 2 --decoder flat \
      --enc 512 --z 256 --dec 256 --free-bits 48 --beta 0.2 --dropout-keep 0.5 --batch 64 --steps 3000

Debian: apt-get install python3-torch python3-h5py (run it with /usr/bin/python3), or launch/setup.sh
--torch2's environment (.venv-torch2/bin/python, PyTorch 2.11 with h5py).
"""
import argparse
import glob
import json
import math
import os
import time

import h5py
import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel


def read_split(folder, split):
    """tokens [N, T] int64 of a split, its shards in index order (as ShardSet serves them)."""
    paths = sorted(glob.glob(os.path.join(folder, f"{split}-*-of-*.h5")))
    if not paths:
        raise SystemExit(f"{folder}: no {split} shards")
    return torch.from_numpy(np.concatenate([h5py.File(p, "r")["tokens"][:].astype(np.int64) for p in paths]))


def state_from(dense, x, layers, size):
    """tanh(Dense(x)) split into (h, c) of every layer, each [layers, N, size] (Magenta's initial_cell_state_from_embedding)."""
    s = torch.tanh(dense(x)).view(x.size(0), 2, layers, size).permute(1, 2, 0, 3)
    return s[0].contiguous(), s[1].contiguous()


class DroppedLSTM(nn.Module):
    """nn.LSTM with Magenta's input dropout on every layer: F.dropout on the first layer's input,
    nn.LSTM's own dropout between layers (the input of layers >= 2)."""

    def __init__(self, n_in, hidden, layers, keep, bidirectional=False):
        super().__init__()
        self.keep = keep
        self.lstm = nn.LSTM(n_in, hidden, layers, batch_first=True, bidirectional=bidirectional,
                            dropout=(1 - keep) if layers > 1 else 0.0)

    def forward(self, x, state=None):
        return self.lstm(F.dropout(x, 1 - self.keep, self.training), state)


def fold_lstm_biases(model):
    """Leaves one trained bias per LSTM gate: b_ih := b_ih + b_hh (the same initial sum), b_hh := 0, frozen."""
    with torch.no_grad():
        for lstm in (m for m in model.modules() if isinstance(m, nn.LSTM)):
            for name, b_hh in lstm.named_parameters():
                if name.startswith("bias_hh"):
                    getattr(lstm, name.replace("bias_hh", "bias_ih")).add_(b_hh)
                    b_hh.zero_()
                    b_hh.requires_grad_(False)


class MusicVAE(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        V = a.vocab
        self.encoder = DroppedLSTM(V, a.enc, a.enc_layers, a.dropout_keep, bidirectional=True)
        self.mu = nn.Linear(2 * a.enc, a.z)
        self.sigma = nn.Linear(2 * a.enc, a.z)
        for layer in (self.mu, self.sigma):  # Magenta: N(0, 0.001) weights, zero biases
            nn.init.normal_(layer.weight, std=0.001)
            nn.init.zeros_(layer.bias)
        dense = a.z
        if a.decoder == "hierarchical":
            self.cond_init = nn.Linear(a.z, 2 * a.cond_layers * a.cond)
            self.conductor = nn.LSTM(1, a.cond, a.cond_layers, batch_first=True)  # zero inputs
            dense = a.cond
        self.dec_init = nn.Linear(dense, 2 * a.dec_layers * a.dec)
        self.decoder = DroppedLSTM(V + dense, a.dec, a.dec_layers, a.dropout_keep)
        self.out = nn.Linear(a.dec, V)

    def forward(self, tokens):
        """(mu, sigma, teacher-forced logits of a z drawn from the posterior): one call, so that
        DistributedDataParallel sees the forward pass and all-reduces the gradients of its backward."""
        mu, sigma = self.encode(tokens)
        z = mu + sigma * torch.randn_like(sigma)
        return mu, sigma, self.decode_teacher_forced(z, tokens)

    def encode(self, tokens):
        _, (h, _) = self.encoder(F.one_hot(tokens, self.a.vocab).float())
        summary = torch.cat([h[-2], h[-1]], -1)  # last layer, forward and backward: [B, 2*enc]
        return self.mu(summary), F.softplus(self.sigma(summary))

    def segments(self, z):
        """(embedding, steps) per decoded segment: the conductor's per-bar outputs, or z for the whole window."""
        a = self.a
        T = a.bars * a.steps_per_bar
        if a.decoder != "hierarchical":
            return [(z, T)]
        B = z.size(0)
        c, _ = self.conductor(z.new_zeros(B, a.bars, 1), state_from(self.cond_init, z, a.cond_layers, a.cond))
        return [(c[:, u], a.steps_per_bar) for u in range(a.bars)]

    def decode_teacher_forced(self, z, tokens):
        a = self.a
        B = tokens.size(0)
        x = F.one_hot(tokens, a.vocab).float()
        previous = torch.cat([x.new_zeros(B, 1, a.vocab), x[:, :-1]], 1)  # Magenta's start token is zeros
        logits, t = [], 0
        for emb, steps in self.segments(z):  # the bottom decoder restarts from each bar's embedding
            inp = torch.cat([previous[:, t:t + steps], emb.unsqueeze(1).expand(B, steps, emb.size(-1))], -1)
            y, _ = self.decoder(inp, state_from(self.dec_init, emb, a.dec_layers, a.dec))
            logits.append(self.out(y))
            t += steps
        return torch.cat(logits, 1)  # [B, T, V]

    @torch.no_grad()
    def decode_free(self, z, temperature=1.0, argmax=False):
        a = self.a
        B = z.size(0)
        previous = z.new_zeros(B, 1, a.vocab)
        tokens = []
        for emb, steps in self.segments(z):
            state = state_from(self.dec_init, emb, a.dec_layers, a.dec)
            for _ in range(steps):
                y, state = self.decoder(torch.cat([previous, emb.unsqueeze(1)], -1), state)
                logits = self.out(y[:, 0])
                nxt = logits.argmax(-1) if argmax else torch.multinomial(F.softmax(logits / temperature, -1), 1)[:, 0]
                tokens.append(nxt)
                previous = F.one_hot(nxt, a.vocab).float().unsqueeze(1)
        return torch.stack(tokens, 1)


def loss_of(model, tokens, beta, free_bits):
    mu, sigma, logits = model(tokens)
    r_loss = F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none").sum(1)  # [B] nats
    kl = (0.5 * (mu ** 2 + sigma ** 2 - 1) - torch.log(sigma.clamp_min(1e-30))).sum(-1)  # [B] nats
    loss = r_loss.mean() + beta * torch.clamp(kl - free_bits * math.log(2), min=0).mean()
    accuracy = (logits.argmax(-1) == tokens).float().mean()
    return loss, r_loss.mean(), kl.mean(), accuracy


@torch.no_grad()
def evaluate(model, tokens, batch, temperature=None):
    """z = mu: r_loss, KL, teacher-forced accuracy, free-running accuracy (argmax, or sampled at `temperature`)."""
    model.eval()
    sums = np.zeros(5)
    for i in range(0, len(tokens), batch):
        x = tokens[i:i + batch]
        mu, sigma = model.encode(x)
        logits = model.decode_teacher_forced(mu, x)
        r = F.cross_entropy(logits.transpose(1, 2), x, reduction="none").sum(1)
        kl = (0.5 * (mu ** 2 + sigma ** 2 - 1) - torch.log(sigma.clamp_min(1e-30))).sum(-1)
        free = model.decode_free(mu, temperature or 1.0, argmax=temperature is None)
        sums += [r.sum().item(), kl.sum().item(), (logits.argmax(-1) == x).sum().item(), (free == x).sum().item(), len(x)]
    model.train()
    n, steps = sums[4], sums[4] * tokens.size(1)
    return {"r_loss": sums[0] / n, "kl": sums[1] / n, "tf": sums[2] / steps, "free": sums[3] / steps}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--run", "--run-dir", dest="run", required=True,
                   help="the run folder (under torchrun say --run-dir: torchrun reads --run as its own --run-path)")
    p.add_argument("--vocab", type=int, default=512)
    p.add_argument("--bars", type=int, default=2)
    p.add_argument("--steps-per-bar", type=int, default=16)
    p.add_argument("--decoder", choices=["flat", "hierarchical"], default="flat")
    p.add_argument("--enc", type=int, default=512)
    p.add_argument("--enc-layers", type=int, default=1)
    p.add_argument("--z", type=int, default=256)
    p.add_argument("--cond", type=int, default=512)
    p.add_argument("--cond-layers", type=int, default=2)
    p.add_argument("--dec", type=int, default=256)
    p.add_argument("--dec-layers", type=int, default=2)
    p.add_argument("--free-bits", type=float, default=48)
    p.add_argument("--beta", type=float, default=0.2)
    p.add_argument("--dropout-keep", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-decay", type=float, default=0.9999)
    p.add_argument("--min-lr", type=float, default=1e-5)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-windows", type=int, default=512)
    p.add_argument("--test-temperature", type=float, default=1.0, help="free-running sampling temperature on the test split")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-eval", action="store_true", help="train and time only: no validation or test evaluation")
    p.add_argument("--single-lstm-bias", action="store_true",
                   help="train one bias per LSTM gate, as Magenta and the C++ model do (nn.LSTM trains two, b_ih and "
                        "b_hh, whose sum moves twice as fast under Adam): b_hh is folded into b_ih and frozen at zero")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))  # set by torchrun
    if world > 1:
        dist.init_process_group("gloo")
    torch.manual_seed(a.seed)
    train = read_split(a.data, "train")
    valid = read_split(a.data, "validation")[: a.eval_windows]
    if train.size(1) != a.bars * a.steps_per_bar:
        raise SystemExit(f"{a.data} holds windows of {train.size(1)} steps; --bars {a.bars} expects {a.bars * a.steps_per_bar}")
    global_batch = a.batch * world
    if global_batch > len(train):
        raise SystemExit(f"{a.data}: --batch {a.batch} x {world} ranks exceeds the {len(train)} training windows")
    if rank == 0:
        os.makedirs(a.run, exist_ok=True)
        with open(os.path.join(a.run, "config.json"), "w") as f:
            json.dump(dict(vars(a), ranks=world), f, indent=2)
    log = open(os.path.join(a.run, "metrics.jsonl"), "w") if rank == 0 else open(os.devnull, "w")
    net = MusicVAE(a)
    if a.single_lstm_bias:
        fold_lstm_biases(net)
    model = DistributedDataParallel(net) if world > 1 else net  # DDP broadcasts rank 0's weights
    opt = torch.optim.Adam([q for q in model.parameters() if q.requires_grad], lr=a.lr)
    if rank == 0:
        print(f"reference: {sum(p.numel() for p in net.parameters()) / 1e6:.2f}M parameters, {len(train)} training windows, "
              f"{world} rank(s) x batch {a.batch}" + (" (DistributedDataParallel, gloo)" if world > 1 else ""), flush=True)
    order_seed = torch.Generator().manual_seed(a.seed)  # one shuffled order on every rank
    torch.manual_seed(a.seed + rank)  # each rank its own posterior noise and dropout
    order, cursor = torch.randperm(len(train), generator=order_seed), 0
    sums, t0, t_window = np.zeros(4), time.time(), time.time()
    for step in range(1, a.steps + 1):
        if cursor + global_batch > len(train):  # a new epoch, reshuffled; drop the remainder
            order, cursor = torch.randperm(len(train), generator=order_seed), 0
        x = train[order[cursor + rank * a.batch:cursor + (rank + 1) * a.batch]]  # this rank's part of the global batch
        cursor += global_batch
        lr = (a.lr - a.min_lr) * a.lr_decay ** (step - 1) + a.min_lr
        for group in opt.param_groups:
            group["lr"] = lr
        loss, r_loss, kl, acc = loss_of(model, x, a.beta, a.free_bits)
        opt.zero_grad()
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip))
        if norm < 1e4:
            opt.step()
        sums += [loss.item(), r_loss.item(), kl.item(), acc.item()]
        if step % a.log_every == 0:
            m = sums / a.log_every
            rate = a.log_every * global_batch / (time.time() - t_window)  # the rank-0 loss figures; seq/s of all ranks
            rec = {"step": step, "loss": m[0], "r_loss": m[1], "kl_bits": m[2] / math.log(2), "accuracy": m[3], "lr": lr,
                   "grad_norm": norm, "seq_per_s": rate, "wall_s": time.time() - t0}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if rank == 0:
                print(f"step {step}  loss {m[0]:.3f}  r_loss {m[1]:.3f}  kl {m[2] / math.log(2):.2f} bits  acc {m[3]:.4f}  {rate:.1f} seq/s", flush=True)
            sums, t_window = np.zeros(4), time.time()
        if rank == 0 and not a.no_eval and (step % a.eval_every == 0 or step == a.steps):
            e = evaluate(net, valid, 128)
            rec = {"step": step, "eval_windows": len(valid), "eval_r_loss": e["r_loss"], "eval_kl_bits": e["kl"] / math.log(2),
                   "eval_elbo": -(e["r_loss"] + e["kl"]), "eval_tf_accuracy": e["tf"], "eval_free_accuracy": e["free"],
                   "wall_s": time.time() - t0}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(f"eval step {step}: r_loss {e['r_loss']:.3f}  kl {e['kl'] / math.log(2):.2f} bits  "
                  f"teacher-forced acc {e['tf']:.4f}  free-running acc {e['free']:.4f}", flush=True)
            t_window = time.time()
    if world > 1:
        dist.barrier()  # the other ranks wait while rank 0 evaluates, then leave
        if rank != 0:
            dist.destroy_process_group()
            return
    if a.no_eval:
        return
    test = read_split(a.data, "test")
    torch.manual_seed(0)
    e = evaluate(net, test, 128, temperature=a.test_temperature)
    result = {"split": "test", "windows": len(test), "teacher_forced_accuracy": e["tf"],
              f"free_running_accuracy_t{a.test_temperature:g}": e["free"], "r_loss_nats": e["r_loss"],
              "kl_bits": e["kl"] / math.log(2), "elbo_nats": -(e["r_loss"] + e["kl"]), "steps": a.steps,
              "wall_s": time.time() - t0}
    with open(os.path.join(a.run, "test-metrics.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
