"""SparseAutoEncoder: CSR (Contrastive Sparse Representation) — k-sparse codes of a dense embedding."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sentence_transformers.base import weights_io
from sentence_transformers.base.modules.module import Module


class TiedTranspose(nn.Module):
    """The decoder of a tied autoencoder: the encoder's weight, transposed (no bias)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.linear.bias is not None:
            raise ValueError("TiedTranspose does not support layers with bias.")
        return F.linear(x, self.linear.weight.t(), None)

    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight.t()

    @property
    def bias(self) -> torch.Tensor | None:
        return self.linear.bias


class SparseAutoEncoder(Module):
    """Turn a dense embedding into a ``hidden_dim``-wide code with only its ``k`` largest activations kept.

    From "Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation" (CSR). In training, the forward
    pass also writes the reconstructions that CSRReconstructionLoss reads (with the ``k``, ``4k`` and auxiliary
    ``k_aux`` codes of dead latents); in inference only the top-k code is computed.

    Args:
        input_dim: Size of the incoming dense embedding.
        hidden_dim: Size of the sparse code.
        k: Active dimensions kept per embedding.
        k_aux: Dead latents used by the auxiliary loss.
        normalize: Standardize the input (and undo it on reconstruction).
        dead_threshold: Steps without activation after which a latent counts as dead.
    """

    config_keys = ["input_dim", "hidden_dim", "k", "k_aux", "normalize", "dead_threshold"]
    forward_kwargs = {"max_active_dims"}

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 512,
        k: int = 8,
        k_aux: int = 512,
        normalize: bool = False,
        dead_threshold: int = 30,
    ) -> None:
        super().__init__()
        for name, value in (("input_dim", input_dim), ("hidden_dim", hidden_dim), ("k", k)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.k = k
        self.k_aux = k_aux
        self.normalize = normalize
        self.dead_threshold = dead_threshold
        self.pre_bias = nn.Parameter(torch.zeros(input_dim))
        self.encoder: nn.Module = nn.Linear(input_dim, hidden_dim, bias=False)
        self.latent_bias = nn.Parameter(torch.zeros(hidden_dim))
        self.decoder = TiedTranspose(self.encoder)
        self.stats_last_nonzero: torch.Tensor
        self.register_buffer("stats_last_nonzero", torch.zeros(hidden_dim, dtype=torch.long))

    def auxk_mask_fn(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with the latents that fired recently zeroed: only dead latents compete for the auxiliary code."""
        return x * (self.stats_last_nonzero > self.dead_threshold)

    def encode_pre_act(self, x: torch.Tensor) -> torch.Tensor:
        """Latents before the top-k: ``W (x - pre_bias) + latent_bias``, [batch, hidden_dim]."""
        return F.linear(x - self.pre_bias, self.encoder.weight, self.latent_bias)

    def LN(self, x: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # noqa: N802
        """Standardize each row; return it with the mean and (unbiased) standard deviation."""
        mu = x.mean(dim=-1, keepdim=True)
        centered = x - mu
        std = centered.std(dim=-1, keepdim=True)
        return centered / (std + eps), mu, std

    def prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The encoder input, and what ``decode`` needs to undo the standardization."""
        if not self.normalize:
            return x, {}
        x, mu, std = self.LN(x)
        return x, {"mu": mu, "std": std}

    def top_k(
        self, x: torch.Tensor, k: int | None = None, compute_aux: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """relu of the ``k`` largest latents per row (zeros elsewhere), and the auxiliary code of dead latents."""
        k = self.k if k is None else k
        top = torch.topk(x, k=min(k, x.shape[-1]), dim=-1)
        latents = torch.zeros_like(x).scatter_(-1, top.indices, top.values).relu()
        if self.training and torch.is_grad_enabled():
            fired = torch.zeros_like(self.stats_last_nonzero)
            fired.scatter_add_(0, top.indices.reshape(-1), (top.values > 1e-5).to(fired.dtype).reshape(-1))
            self.stats_last_nonzero *= 1 - fired.clamp(max=1)
            self.stats_last_nonzero += 1
        auxiliary = None
        if self.k_aux and compute_aux:
            aux = torch.topk(self.auxk_mask_fn(x), k=min(self.k_aux, x.shape[-1]))
            auxiliary = torch.zeros_like(x).scatter_(-1, aux.indices, aux.values).relu()
        return latents, auxiliary

    def decode(self, latents: torch.Tensor, info: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Reconstruct the dense input from a code (undoing the standardization when ``normalize``)."""
        output = self.decoder(latents) + self.pre_bias
        if self.normalize:
            if info is None:
                raise ValueError("decode needs the info returned by prepare when normalize=True")
            output = output * info["std"] + info["mu"]
        return output

    def forward(self, features: dict[str, torch.Tensor], max_active_dims: int | None = None) -> dict[str, Any]:
        """``sentence_embedding`` becomes the top-k code (k = ``max_active_dims`` when given); in training, also
        the reconstructions and codes the CSR losses read."""
        k = max_active_dims if max_active_dims is not None else self.k
        x = features["sentence_embedding"]
        prepared, info = self.prepare(x)
        latents_pre_act = self.encode_pre_act(prepared)
        if not torch.is_grad_enabled():
            features["sentence_embedding"], _ = self.top_k(latents_pre_act, k, compute_aux=False)
            return features
        latents_k, latents_aux = self.top_k(latents_pre_act, k)
        latents_4k, _ = self.top_k(latents_pre_act, 4 * k, compute_aux=False)
        recons_k = self.decode(latents_k, info)
        recons_aux = None if latents_aux is None else self.decoder(latents_aux) + self.pre_bias
        decoder_bias = self.pre_bias
        if self.normalize:
            decoder_bias = decoder_bias * info["std"]
            if recons_aux is not None:
                recons_aux = recons_aux * info["std"]
        features.update(
            {
                "sentence_embedding_backbone": x,
                "sentence_embedding_encoded": latents_pre_act,
                "sentence_embedding_encoded_4k": latents_4k,
                "auxiliary_embedding": latents_aux,
                "decoded_embedding_k": recons_k,
                "decoded_embedding_4k": self.decode(latents_4k, info),
                "decoded_embedding_aux": recons_aux,
                "decoded_embedding_k_pre_bias": recons_k - decoder_bias,
                "sentence_embedding": latents_k,
            }
        )
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_config(output_path)
        state = {key: value for key, value in self.state_dict().items() if key != "encoder.weight"}
        weights_io.save_tensors(state, output_path, safe_serialization=safe_serialization)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        **kwargs: Any,
    ) -> SparseAutoEncoder:
        """Rebuild from config.json and model.safetensors; the tied weight may be stored under either name."""
        hub = {"token": token, "cache_folder": cache_folder, "revision": revision, "local_files_only": local_files_only}
        config = cls.load_config(model_name_or_path, subfolder=subfolder, **hub)
        if not config:
            folder = cls.load_dir_path(model_name_or_path, subfolder=subfolder, **hub)
            raise cls._missing_config_error(folder, ValueError("input_dim is required"))
        module = cls(**cls.known_config(config))
        state = cls.load_torch_weights(model_name_or_path, subfolder=subfolder, **hub)
        for name, twin in (("encoder.weight", "decoder.linear.weight"), ("decoder.linear.weight", "encoder.weight")):
            if name not in state and twin in state:
                state[name] = state[twin]
        module.load_state_dict(state)
        return module

    def __repr__(self) -> str:
        return f"SparseAutoEncoder({self.get_config_dict()})"

    def get_embedding_dimension(self) -> int:
        """The code size, ``hidden_dim`` (only ``k`` of them are non-zero per embedding)."""
        return self.hidden_dim
