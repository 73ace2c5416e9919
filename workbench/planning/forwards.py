"""The cost of one kind of forward call: FLOPs, bytes moved, and the memory it holds at its peak.

A ``Forward`` is ``calls`` identical calls, each of ``rows`` sequences that feed ``new`` tokens through ``blocks``
decoder blocks (all of them unless the call starts part-way, as a patch run does), each token attending to
``keys`` keys on average (itself included), and unembedding ``logits`` positions per row (at most ``logit_chunk``
positions at once, where the caller unembeds in chunks); ``cached`` tokens per row are in the key/value cache after
the call (counted by callers that keep a cache).

- FLOPs: 2 x (block matmul weights) per token per block, 4 x keys x heads x head_dim per token per block for
  attention (QK^T and AV; a sliding block sees at most its window), 2 x d_model x d_vocab per unembedded position.
  Norms, rotary and softmax are left out (< 1%).
- Bytes: each call reads the blocks' weights once (and the unembedding when it unembeds), and reads the keys and
  values it attends to; activations are left out (they stay in cache-sized pieces).
- Memory held at the peak of one call (beside the weights and any cache the caller counts): the additive attention
  mask [rows, new, keys] in the weights' dtype, and the larger of (a) one block's working set: the residual stream
  and its normed copy, q/k/v, attention output, and three [new, d_mlp] MLP tensors (gate, up, their product), plus
  the attention scores in float32 (kernels that fuse them away need less: this is the bound) and (b) the logits:
  the model's [positions, d_vocab] in its dtype (and ``logit_copies`` more copies of it: collect's gold answers
  join two), a float32 copy where that dtype is narrower, and the float32 log-probabilities.
- Saved for a backward pass (``saved``): per token and block what autograd keeps (the block's inputs, normed copies,
  q/k/v, attention output, four [d_mlp] MLP tensors, the float32 attention probabilities) and the keys and values
  attended to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from workbench.planning.shape import ModelShape

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class Forward:
    """``calls`` forward calls of ``rows`` x ``new`` tokens (see the module docstring)."""

    what: str
    rows: float
    new: float
    keys: float
    logits: float
    calls: float = 1
    blocks: float | None = None  # decoder blocks each row runs (None: every block)
    cached: float = 0
    logit_chunk: float | None = None
    logit_copies: int = 0

    def repeated(self, times: float) -> "Forward":
        return replace(self, calls=self.calls * times)

    def n_blocks(self, shape: ModelShape) -> float:
        return shape.layers if self.blocks is None else self.blocks

    def flops(self, shape: ModelShape) -> float:
        per_block = 2 * shape.block_matmul + 4 * shape.attended(self.keys) * shape.heads * shape.head_dim
        body = self.new * self.n_blocks(shape) * per_block
        return self.calls * self.rows * (body + 2 * self.logits * shape.unembed)

    def traffic(self, shape: ModelShape, dtype: str) -> float:
        size = DTYPE_BYTES[dtype]
        weights = self.n_blocks(shape) * shape.block_matmul + (shape.unembed if self.logits else 0)
        cache = self.rows * shape.attended(self.keys) * self.n_blocks(shape) * shape.kv_width
        return self.calls * size * (weights + cache)

    def held(self, shape: ModelShape, dtype: str) -> float:
        """Bytes held at the call's peak besides the weights and the caller's caches."""
        size = DTYPE_BYTES[dtype]
        tokens = self.rows * self.new
        keys = shape.attended(self.keys)
        mask = tokens * keys * size * len({w for w in shape.window})  # one mask per kind of block
        q = shape.heads * shape.head_dim
        block = tokens * size * (3 * shape.d_model + 2 * q + shape.kv_width + 3 * shape.d_mlp)
        scores = tokens * shape.heads * keys * 4
        positions = self.rows * self.logits
        if self.logit_chunk is not None:
            positions = min(positions, self.logit_chunk)
        logits = positions * shape.d_vocab * (size * (1 + self.logit_copies) + (4 if size < 4 else 0) + 4)
        return mask + max(block + scores, logits)

    def saved(self, shape: ModelShape, dtype: str) -> float:
        """Bytes autograd keeps for the backward pass of one call through every block it runs."""
        size = DTYPE_BYTES[dtype]
        keys = shape.attended(self.keys)
        q = shape.heads * shape.head_dim
        per_token = size * (4 * shape.d_model + 2 * q + shape.kv_width + 4 * shape.d_mlp) + 4 * shape.heads * keys
        return self.rows * self.n_blocks(shape) * (self.new * per_token + keys * shape.kv_width * size)
