"""A linear head on a backbone's pooled states: what the classification estimator trains.

The head reads one vector per text: the mean of the token states (encoders' default), the first
token (``[CLS]``), or the last non-padding token (decoders, as in Burns et al. 2023). For
classification it outputs K logits; for scored candidates it outputs one score per candidate text.
Frozen-feature probes read the same pooled vector (``BackboneWithHead.features``).
"""

from __future__ import annotations

from typing import Any

import torch

from w2s_bench.models.backbone import is_decoder
from w2s_bench.train import enable_checkpointing

POOLINGS = ("auto", "mean", "first", "last")


def resolve_pooling(pooling: str, model_config: Any) -> str:
    """``pooling`` with ``"auto"`` made concrete: the last token for decoders, the mean for encoders."""
    return pooling if pooling != "auto" else ("last" if is_decoder(model_config) else "mean")


def pool(states: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per text from token states ``[B, T, hidden]``: ``"mean"``, ``"first"`` or ``"last"``."""
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    if pooling == "mean":
        return (states * mask).sum(1) / mask.sum(1).clamp(min=1)
    if pooling == "first":
        return states[:, 0]
    # last non-padding token, for right or left padding alike
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (attention_mask * positions).argmax(dim=1)
    return states[torch.arange(states.shape[0], device=states.device), last]


class BackboneWithHead(torch.nn.Module):
    def __init__(self, backbone: torch.nn.Module, hidden_size: int, num_outputs: int, pooling: str) -> None:
        super().__init__()
        self.backbone, self.pooling = backbone, pooling
        self.head = torch.nn.Linear(hidden_size, num_outputs)
        torch.nn.init.normal_(self.head.weight, std=0.02)
        torch.nn.init.zeros_(self.head.bias)

    @property
    def supports_gradient_checkpointing(self) -> bool:
        return bool(getattr(self.backbone, "supports_gradient_checkpointing", False))

    def activation_checkpointing_enable(self, checkpoint_kwargs: dict[str, Any] | None = None) -> None:
        """The training loop's ``gradient_checkpointing`` reaches the backbone through here (the head is one layer);
        ``enable_checkpointing`` chooses the backbone's checkpointing arguments as it does for any model."""
        enable_checkpointing(self.backbone, getattr(self.backbone, "name_or_path", "backbone"))

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor | None = None,
                 pool_weights: torch.Tensor | None = None) -> torch.Tensor:
        """The one vector per text that the head reads; frozen-feature probes read the same. With
        ``pool_weights``, the inputs are packed candidates (``w2s_bench.models.candidates``): one vector per
        candidate, ``[B * K, hidden]``."""
        if pool_weights is not None:
            states = self.backbone(input_ids=input_ids, attention_mask=attention_mask,
                                   position_ids=position_ids).last_hidden_state
            return torch.bmm(pool_weights.to(states.dtype), states).flatten(0, 1)
        states = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return pool(states, attention_mask, self.pooling)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor | None = None,
                pool_weights: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(input_ids, attention_mask, position_ids, pool_weights).float())
