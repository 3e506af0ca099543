"""`sdpa_segments`: attention per packed pair, so no compute goes to masked-out blocks.

A packed row with a dense mask makes sdpa compute every (query, key) pair of the row and throw
most away: for a row of eight pairs, seven eighths of the attention work. Flex attention skips
those blocks on a GPU but has no CPU backward. This attention function walks the pairs of each
row instead and calls sdpa on each pair's own span: the chosen sequence (`[prefix | chosen
tail]`) as one causal block, and the rejected tail against `[prefix | rejected tail]` with a
causal mask aligned to the lower right. Hidden states equal those of the dense mask (a test
checks it), while attention costs what the separate sequences would.

It is registered with transformers' `AttentionInterface` under `sdpa_segments`; the pair spans
reach it through the `themis_units` keyword that the backbone passes down to its attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.integrations.sdpa_attention import repeat_kv

NAME = "sdpa_segments"


def segment_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None,
                      themis_units=None, **kwargs):
    """query [B, H, T, D], key/value [B, Hkv, T, D] → ([B, T, H, D], None)."""
    if themis_units is None:
        raise RuntimeError(f"attention '{NAME}' needs the packed layout's pair spans (themis_units)")
    groups = query.shape[1] // key.shape[1]
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    width = query.shape[2]
    rows = []
    # unbind/split (not indexing): their backward is one cat, where each slice's backward would
    # write into a zero tensor of the whole row
    for units, q, k, v in zip(themis_units, query.unbind(0), key.unbind(0), value.unbind(0)):
        bounds, at = [], 0
        for start, shared, n_chosen, n_rejected in units:
            bounds += [start - at, shared, n_chosen - shared, n_rejected - shared]
            at = start + n_chosen + n_rejected - shared
        bounds.append(width - at)
        qs, ks, vs = (t.unsqueeze(0).split(bounds, dim=2) for t in (q, k, v))
        pieces = []
        for u, (_, shared, _, n_rejected) in enumerate(units):
            gap, pre, c_tail, r_tail = 4 * u, 4 * u + 1, 4 * u + 2, 4 * u + 3
            if bounds[gap]:
                pieces.append(torch.zeros_like(qs[gap]))
            chosen = [pre, c_tail] if shared else [c_tail]
            q_c, k_c, v_c = (torch.cat([t[i] for i in chosen], dim=2) for t in (qs, ks, vs))
            pieces.append(F.scaled_dot_product_attention(q_c, k_c, v_c, is_causal=True, scale=scaling))
            if shared == 0:  # the rejected side is a sequence of its own
                pieces.append(F.scaled_dot_product_attention(
                    qs[r_tail], ks[r_tail], vs[r_tail], is_causal=True, scale=scaling))
                continue
            k_r, v_r = torch.cat([ks[pre], ks[r_tail]], dim=2), torch.cat([vs[pre], vs[r_tail]], dim=2)
            mask = torch.ones(n_rejected - shared, n_rejected, dtype=torch.bool, device=q.device)
            pieces.append(F.scaled_dot_product_attention(
                qs[r_tail], k_r, v_r, attn_mask=mask.tril(diagonal=shared), scale=scaling))
        if bounds[-1]:  # padding: its output is never read
            pieces.append(torch.zeros_like(qs[-1]))
        rows.append(torch.cat(pieces, dim=2))
    out = torch.cat(rows, dim=0)
    return out.transpose(1, 2).contiguous(), None


def register() -> None:
    """Make `attn_implementation="sdpa_segments"` known to transformers (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, segment_attention)
