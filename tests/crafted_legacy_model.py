"""Writes a model file of the old format (a TorchScript archive) whose __setstate__ never returns.

LibTorch's archive reader runs __setstate__ when it loads the file, so any program that opened it
would hang there (it could as well allocate without limit). The tests hand it to generate, evaluate
and train and expect a refusal, at once, that names the convert command.

    python crafted_legacy_model.py OUT.pt
"""
import sys
from typing import List, Tuple

import torch


class Crafted(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2))

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        self.weight = state[0]
        self.training = state[1]
        grown: List[int] = []
        while True:  # runs when LibTorch reads the file
            grown.append(len(grown))

    def forward(self) -> torch.Tensor:
        return self.weight


if __name__ == "__main__":
    torch.jit.save(torch.jit.script(Crafted()), sys.argv[1])
