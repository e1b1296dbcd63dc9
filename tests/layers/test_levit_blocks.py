"""LeViT blocks against independent references (loops, einsum) and their properties."""
import copy
import itertools
import math
import pickle
import weakref

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmattn.layers.levit_blocks import (ConvBN, DropPath, LeViTAttention, LeViTBlock, LeViTMlp,
                                        LeViTShrinkAttention, LeViTShrinkBlock, LeViTStem,
                                        LinearBN, offset_index, resize_bias_table)
from messages import names


# Token grids whose query x key pairs (1472^2 = 2.2M, and 744 x 2976 at stride 2) reach the size
# from which attention runs PyTorch's fused kernel on the CPU (2048 x 1024 pairs, the module's
# speed threshold); the small grids of the other tests take the explicit product.
LARGE_GRID = (32, 46)
LARGE_SHRINK_GRID = (48, 62)
LARGE = pytest.param(LARGE_GRID, id='large')
LARGE_SHRINK = pytest.param(LARGE_SHRINK_GRID, id='large')


def _randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights, biases, attention tables and BN statistics (init zeros hide bugs)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in itertools.chain(module.named_parameters(), module.named_buffers()):
            if name.endswith('num_batches_tracked'):
                continue
            if name.endswith('running_var'):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.5)
    return module


def _linear_bn(x, pair):
    bn = pair.bn
    y = torch.einsum('...i,oi->...o', x, pair.linear.weight)
    return (y - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias


def _loop_bias(table, query_hw, key_hw, stride):
    """Gather ``table[h, |stride*qy - ky|, |stride*qx - kx|]`` with plain loops."""
    heads = table.shape[0]
    grid = table.reshape(heads, *key_hw)
    rows = []
    for qy, qx in itertools.product(range(query_hw[0]), range(query_hw[1])):
        row = [grid[:, abs(stride * qy - ky), abs(stride * qx - kx)]
               for ky, kx in itertools.product(range(key_hw[0]), range(key_hw[1]))]
        rows.append(torch.stack(row, dim=-1))
    return torch.stack(rows, dim=1)  # heads, N_q, N_k


def _offset_bias(table, query_hw, key_hw, stride):
    """``_loop_bias`` by broadcasting (the loops take minutes on the large grids)."""
    grid = table.reshape(table.shape[0], *key_hw)
    qy, qx = [torch.arange(n)[:, None, None, None] * stride for n in query_hw]
    ky, kx = torch.arange(key_hw[0])[:, None], torch.arange(key_hw[1])
    dy, dx = (qy - ky).abs(), (qx.transpose(0, 1) - kx).abs()  # Hq,1,Hk,1 and 1,Wq,1,Wk
    bias = grid[:, dy, dx]  # heads, Hq, Wq, Hk, Wk
    return bias.reshape(table.shape[0], query_hw[0] * query_hw[1], key_hw[0] * key_hw[1])


def _cubic(distance: float, a: float = -0.75) -> float:
    """Keys' cubic convolution kernel (a = -0.75, the constant of OpenCV and PyTorch)."""
    d = abs(distance)
    if d <= 1:
        return ((a + 2) * d - (a + 3)) * d * d + 1
    if d < 2:
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return 0.0


def _resize_weights(src: int, dst: int, mode: str) -> torch.Tensor:
    """(dst, src) matrix of one axis of a resize with half-pixel centres (align_corners=False).

    Written from the textbook definitions, one output position at a time: the source
    coordinate of output i is (i + 0.5) * src / dst - 0.5; taps outside the table repeat its
    edge; linear taps start at coordinate 0 at most (as OpenCV / PyTorch do); nearest takes
    floor(i * src / dst).
    """
    weights = torch.zeros(dst, src, dtype=torch.float64)
    scale = src / dst
    for i in range(dst):
        if mode == 'nearest':
            weights[i, min(int(i * scale), src - 1)] = 1.0
            continue
        coord = (i + 0.5) * scale - 0.5
        if mode == 'bilinear':
            coord = max(coord, 0.0)
            left = int(coord)  # floor, coord >= 0
            frac = coord - left
            weights[i, min(left, src - 1)] += 1 - frac
            weights[i, min(left + 1, src - 1)] += frac
        else:  # bicubic: four taps around floor(coord)
            left = math.floor(coord)
            for tap in range(left - 1, left + 3):
                weights[i, min(max(tap, 0), src - 1)] += _cubic(coord - tap)
    return weights


def _resized(table: torch.Tensor, src_hw, dst_hw, mode: str = 'bicubic') -> torch.Tensor:
    """(heads, H_s*W_s) -> (heads, H_d*W_d) by the separable weights above (float64)."""
    heads = table.shape[0]
    grid = table.double().reshape(heads, *src_hw)
    rows = _resize_weights(src_hw[0], dst_hw[0], mode)  # H_d, H_s
    cols = _resize_weights(src_hw[1], dst_hw[1], mode)  # W_d, W_s
    return torch.einsum('ys,hst,xt->hyx', rows, grid, cols).reshape(heads, -1).to(table.dtype)


def _table_at(module, key_hw, mode=None):
    """The module's bias table at the key grid, resized independently of its code path (with
    the module's own ``bias_interpolation`` unless ``mode`` is given)."""
    if tuple(key_hw) == module.pretrain_hw:
        return module.attention_biases
    return _resized(module.attention_biases, module.pretrain_hw, key_hw,
                    mode or module.bias_interpolation)


def test_offset_index_matches_a_loop_over_positions_for_non_square_grids():
    for query_hw, key_hw, stride in [((3, 5), (3, 5), 1), ((4, 3), (7, 5), 2), ((1, 1), (1, 2), 2)]:
        index = offset_index(query_hw, key_hw, stride)
        expected = torch.tensor([[abs(stride * qy - ky) * key_hw[1] + abs(stride * qx - kx)
                                  for ky, kx in itertools.product(*map(range, key_hw))]
                                 for qy, qx in itertools.product(*map(range, query_hw))])
        assert torch.equal(index, expected)


def test_offset_index_reproduces_the_official_first_seen_offset_numbering():
    # the official code numbers offsets in the order a double loop first meets them
    for resolution, stride in [(5, 1), (5, 2)]:
        sub = (resolution - 1) // stride + 1
        seen, idxs = {}, []
        for p1 in itertools.product(range(sub), range(sub)):
            for p2 in itertools.product(range(resolution), range(resolution)):
                offset = (abs(p1[0] * stride - p2[0]), abs(p1[1] * stride - p2[1]))
                idxs.append(seen.setdefault(offset, len(seen)))
        official = torch.tensor(idxs).view(sub * sub, resolution * resolution)
        assert torch.equal(offset_index((sub, sub), (resolution, resolution), stride), official)


@pytest.mark.parametrize('query_hw', [(4, 4), (3, 1), (1, 3)])
def test_offset_index_rejects_queries_outside_the_key_grid_on_either_axis(query_hw):
    # at stride 2 the last query of 3 sits at key 4: outside a grid of 4 (keys 0..3)
    with pytest.raises(ValueError, match=names(query_hw, (4, 4))):
        offset_index(query_hw, (4, 4), 2)


def test_offset_index_accepts_the_last_query_on_the_last_key():
    assert offset_index((3, 3), (5, 5), 2).shape == (9, 25)


def test_offset_index_is_built_on_the_requested_device():
    # the meta device stands for an accelerator: every intermediate must be created there
    assert offset_index((2, 3), (3, 5), 2, device=torch.device('meta')).device.type == 'meta'


def test_bias_table_resize_is_the_identity_at_the_pretraining_grid():
    table = torch.randn(3, 14 * 14, generator=torch.Generator().manual_seed(0))
    assert torch.equal(resize_bias_table(table, (14, 14), (14, 14)), table)


def test_bias_table_resize_keeps_a_constant_table_constant():
    table = torch.full((2, 7 * 7), 0.25)
    resized = resize_bias_table(table, (7, 7), (5, 11))
    assert resized.shape == (2, 55)
    torch.testing.assert_close(resized, torch.full_like(resized, 0.25))


@pytest.mark.parametrize('mode', ['bicubic', 'bilinear', 'nearest'])
@pytest.mark.parametrize('src_hw, dst_hw', [((14, 14), (9, 23)), ((4, 4), (7, 5)),
                                            ((7, 7), (3, 2)), ((4, 4), (1, 1))])
def test_bias_table_resize_equals_explicit_interpolation_weights(mode, src_hw, dst_hw):
    table = torch.randn(3, src_hw[0] * src_hw[1], generator=torch.Generator().manual_seed(1))
    resized = resize_bias_table(table, src_hw, dst_hw, mode)
    torch.testing.assert_close(resized, _resized(table, src_hw, dst_hw, mode), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize('mode', ['bilinear', 'nearest'])
def test_attention_with_another_bias_interpolation_uses_that_resize(mode):
    torch.manual_seed(0)
    attn = _randomise(LeViTAttention(16, key_dim=4, num_heads=2, pretrain_hw=4,
                                     bias_interpolation=mode)).eval()
    hw = (3, 6)
    expected = _loop_bias(_table_at(attn, hw), hw, hw, 1)
    with torch.no_grad():
        torch.testing.assert_close(attn.attention_bias(hw, hw), expected, rtol=1e-5, atol=1e-5)
    assert (expected - _loop_bias(_table_at(attn, hw, 'bicubic'), hw, hw, 1)).abs().max() > 1e-2


def test_shrink_attention_with_another_bias_interpolation_uses_that_resize():
    attn = _randomise(LeViTShrinkAttention(8, 12, key_dim=4, num_heads=2, pretrain_hw=4,
                                           bias_interpolation='nearest')).eval()
    hw = (7, 5)
    expected = _loop_bias(_table_at(attn, hw, 'nearest'), (4, 3), hw, 2)
    with torch.no_grad():
        torch.testing.assert_close(attn.attention_bias((4, 3), hw), expected)


def test_bias_table_resize_rejects_unknown_modes():
    with pytest.raises(ValueError, match="'area'"):
        resize_bias_table(torch.zeros(1, 4), (2, 2), (3, 3), mode='area')


@pytest.mark.parametrize('hw', [(4, 4), (3, 6), LARGE])
def test_attention_matches_an_einsum_reference_with_loop_gathered_bias(hw):
    torch.manual_seed(0)
    attn = _randomise(LeViTAttention(16, key_dim=4, num_heads=2, pretrain_hw=4)).eval()
    x = torch.randn(2, hw[0] * hw[1], 16)
    qkv = _linear_bn(x, attn.qkv).view(2, -1, 2, 4 + 4 + 8)
    q, k, v = qkv[..., :4], qkv[..., 4:8], qkv[..., 8:]
    gather = _offset_bias if hw == LARGE_GRID else _loop_bias
    bias = gather(_table_at(attn, hw), hw, hw, 1)
    logits = torch.einsum('bnhd,bmhd->bhnm', q, k) / 2.0 + bias
    out = torch.einsum('bhnm,bmhd->bnhd', logits.softmax(-1), v).reshape(2, -1, 16)
    expected = _linear_bn(F.hardswish(out), attn.proj)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, hw), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('hw', [(4, 4), (5, 3), LARGE_SHRINK])
def test_shrink_attention_matches_an_einsum_reference_with_strided_queries(hw):
    torch.manual_seed(0)
    attn = _randomise(LeViTShrinkAttention(8, 12, key_dim=4, num_heads=2, pretrain_hw=4)).eval()
    x = torch.randn(2, hw[0] * hw[1], 8)
    kv = _linear_bn(x, attn.kv).view(2, -1, 2, 4 + 16)
    k, v = kv[..., :4], kv[..., 4:]
    query_hw = ((hw[0] + 1) // 2, (hw[1] + 1) // 2)
    picked = [y * hw[1] + x_ for y in range(0, hw[0], 2) for x_ in range(0, hw[1], 2)]
    q = _linear_bn(x[:, picked], attn.q).view(2, -1, 2, 4)
    gather = _offset_bias if hw == LARGE_SHRINK_GRID else _loop_bias
    bias = gather(_table_at(attn, hw), query_hw, hw, 2)
    logits = torch.einsum('bnhd,bmhd->bhnm', q, k) / 2.0 + bias
    out = torch.einsum('bhnm,bmhd->bnhd', logits.softmax(-1), v).reshape(2, len(picked), 32)
    expected = _linear_bn(F.hardswish(out), attn.proj)
    with torch.no_grad():
        result, result_hw = attn(x, hw)
    assert result_hw == query_hw
    torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-5)


def test_stem_gives_ceil_sized_maps_at_strides_2_4_8_16():
    stem = LeViTStem(3, 32).eval()
    with torch.no_grad():
        maps = stem(torch.randn(1, 3, 37, 50))
    assert [tuple(m.shape) for m in maps] == [(1, 4, 19, 25), (1, 8, 10, 13), (1, 16, 5, 7),
                                               (1, 32, 3, 4)]


def test_stem_rejects_embed_dims_not_divisible_by_8():
    with pytest.raises(ValueError, match=names('embed_dim', 20)):
        LeViTStem(3, 20)


def test_residual_block_is_the_identity_at_initialisation():
    # zero-initialised BN weights on the residual branches [paper]
    block = LeViTBlock(16, key_dim=4, num_heads=2, pretrain_hw=3).eval()
    x = torch.randn(1, 12, 16)
    with torch.no_grad():
        out, hw = block(x, (3, 4))
    assert hw == (3, 4)
    torch.testing.assert_close(out, x)


def test_fused_conv_bn_equals_the_pair_in_eval():
    pair = _randomise(ConvBN(3, 5, 3, 2, 1)).eval()
    x = torch.randn(2, 3, 9, 7)
    with torch.no_grad():
        torch.testing.assert_close(pair.fuse()(x), pair(x), rtol=1e-5, atol=1e-5)


def test_fused_linear_bn_equals_the_pair_in_eval_on_token_tensors():
    pair = _randomise(LinearBN(6, 4)).eval()
    x = torch.randn(2, 5, 6)
    expected = _linear_bn(x, pair)
    with torch.no_grad():
        torch.testing.assert_close(pair(x), expected, rtol=1e-5, atol=1e-5)
        pair.switch_to_deploy()
        torch.testing.assert_close(pair(x), expected, rtol=1e-5, atol=1e-5)
    assert pair.bn is None and pair.linear.bias is not None


def test_switch_to_deploy_twice_is_the_same_as_once():
    pair = _randomise(LinearBN(6, 4)).eval()
    pair.switch_to_deploy()
    fused = pair.linear
    pair.switch_to_deploy()
    assert pair.linear is fused


@pytest.mark.parametrize('norm', [lambda c: nn.LayerNorm(c),
                                  lambda c: nn.BatchNorm1d(c, track_running_stats=False)])
def test_a_norm_that_cannot_fold_raises_and_stays_in_place(norm):
    pair = LinearBN(6, 4, norm_layer=norm).eval()
    x = torch.randn(3, 6)
    with torch.no_grad():
        before = pair(x)
    norm_type = type(pair.bn)
    with pytest.raises(TypeError, match=names(norm_type.__name__)):
        pair.switch_to_deploy()
    assert type(pair.bn) is norm_type
    with torch.no_grad():
        torch.testing.assert_close(pair(x), before)


def test_mlp_matches_an_einsum_reference():
    mlp = _randomise(LeViTMlp(6, mlp_ratio=2)).eval()
    x = torch.randn(2, 3, 6)
    expected = _linear_bn(F.hardswish(_linear_bn(x, mlp.fc1)), mlp.fc2)
    with torch.no_grad():
        torch.testing.assert_close(mlp(x), expected, rtol=1e-5, atol=1e-5)


def test_shrink_block_rejects_in_dim_not_divisible_by_key_dim():
    with pytest.raises(ValueError, match=names('in_dim', 10, 'key_dim', 4)):
        LeViTShrinkBlock(10, 16, key_dim=4)


def test_eval_without_grad_reuses_the_gathered_bias():
    attn = _randomise(LeViTAttention(8, 4, 2, pretrain_hw=3)).eval()
    with torch.no_grad():
        first = attn.attention_bias((3, 5), (3, 5))
        second = attn.attention_bias((3, 5), (3, 5))
        other = attn.attention_bias((2, 2), (2, 2))
    assert first is second
    assert other.shape == (2, 4, 4)


def test_in_place_edit_of_the_table_in_eval_changes_the_output_accordingly():
    attn = _randomise(LeViTAttention(8, 4, 2, pretrain_hw=3)).eval()
    x = torch.randn(1, 15, 8)
    with torch.no_grad():
        attn(x, (3, 5))  # fills the cache
        attn.attention_biases.mul_(-2.0).add_(1.0)
        edited = attn(x, (3, 5))
        fresh = LeViTAttention(8, 4, 2, pretrain_hw=3).eval()
        fresh.load_state_dict(attn.state_dict())
        torch.testing.assert_close(edited, fresh(x, (3, 5)))


def test_load_state_dict_in_eval_replaces_the_cached_bias():
    source = _randomise(LeViTAttention(8, 4, 2, pretrain_hw=3), seed=1).eval()
    target = _randomise(LeViTAttention(8, 4, 2, pretrain_hw=3), seed=2).eval()
    x = torch.randn(1, 9, 8)
    with torch.no_grad():
        target(x, (3, 3))
        target.load_state_dict(source.state_dict())
        torch.testing.assert_close(target(x, (3, 3)), source(x, (3, 3)))


def _release_by_train(attn):
    attn.train()
    assert attn.training


def _release_by_eval(attn):
    attn.eval()  # also in eval already
    assert not attn.training


def _release_by_load_state_dict(attn):
    attn.load_state_dict(attn.state_dict())


def _release_by_to(attn):
    assert attn.to(torch.float64) is attn
    assert attn.attention_biases.dtype == torch.float64


@pytest.mark.parametrize('release', [_release_by_train, _release_by_eval,
                                     _release_by_load_state_dict, _release_by_to,
                                     lambda attn: attn.clear_bias_cache()],
                         ids=['train', 'eval', 'load_state_dict', 'to', 'clear_bias_cache'])
def test_the_cached_bias_is_kept_until_train_eval_load_to_or_clear_bias_cache(release):
    attn = _randomise(LeViTAttention(8, 4, 2, pretrain_hw=3)).eval()
    with torch.no_grad():
        cached = weakref.ref(attn.attention_bias((3, 3), (3, 3)))
    assert cached() is not None  # held by the cache alone
    release(attn)
    assert cached() is None


def test_gradients_reach_every_parameter_including_the_resized_bias_table():
    torch.manual_seed(0)
    blocks = nn.ModuleList([
        _randomise(LeViTBlock(16, 4, 2, pretrain_hw=4)),
        _randomise(LeViTShrinkBlock(16, 24, key_dim=4, pretrain_hw=4))
    ]).train()
    out, hw = blocks[0](torch.randn(2, 15, 16), (3, 5))
    out, hw = blocks[1](out, hw)
    out.square().mean().backward()
    for name, param in blocks.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_eval_with_grad_enabled_gives_bias_gradients_twice():
    attn = _randomise(LeViTAttention(8, 4, 2, pretrain_hw=3)).eval()
    for _ in range(2):  # a cached graph would fail on the second backward
        attn.zero_grad()
        attn(torch.randn(1, 9, 8), (3, 3)).sum().backward()
        assert attn.attention_biases.grad.abs().sum() > 0


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """||got - want|| / ||want||: relative to the tensor's own scale."""
    return ((got.double() - want.double()).norm() / want.double().norm()).item()


# (output, gradients) bounds. Measured over four randomisations: outputs fp16 <= 0.13%, bf16
# <= 0.8%; gradients fp16 <= 0.6%, bf16 <= 9.5% (bf16's 8-bit mantissa rounds the attention
# logits, and the softmax amplifies that in its backward). The bounds leave ~2-3x room and stay
# below the effect of a real defect (a lost bias or term changes outputs by tens of percent).
_AUTOCAST_TOLERANCE = {torch.float16: (5e-3, 1.5e-2), torch.bfloat16: (2.5e-2, 0.15)}


# At LARGE_GRID (1472 keys per query) the rounding adds up: measured over two randomisations,
# outputs as above, gradients fp16 <= 2.0%, bf16 <= 7.0%.
_LARGE_GRID_AUTOCAST_TOLERANCE = {torch.float16: (5e-3, 5e-2), torch.bfloat16: (2.5e-2, 0.15)}


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_block_output_and_gradients_are_close_to_float32(dtype):
    _check_autocast_block(dtype, (4, 5), _AUTOCAST_TOLERANCE[dtype])


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_block_with_the_fused_kernel_is_close_to_float32(dtype):
    _check_autocast_block(dtype, LARGE_GRID, _LARGE_GRID_AUTOCAST_TOLERANCE[dtype])


def _check_autocast_block(dtype, hw, tolerance):
    torch.manual_seed(0)
    block = _randomise(LeViTBlock(32, 8, 4, pretrain_hw=4)).eval()
    tokens = hw[0] * hw[1]
    x = torch.randn(2, tokens, 32, generator=torch.Generator().manual_seed(1)).requires_grad_()
    upstream = torch.randn(2, tokens, 32, generator=torch.Generator().manual_seed(2))
    names = ['x'] + [name for name, _ in block.named_parameters()]
    inputs = [x, *block.parameters()]
    want, _ = block(x, hw)
    want_grads = torch.autograd.grad((want * upstream).sum(), inputs)
    with torch.autocast('cpu', dtype=dtype):
        got, _ = block(x, hw)
    got_grads = torch.autograd.grad((got.float() * upstream).sum(), inputs)
    output_tolerance, gradient_tolerance = tolerance
    assert _relative_error(got, want) < output_tolerance
    for name, got_grad, want_grad in zip(names, got_grads, want_grads):
        assert _relative_error(got_grad, want_grad) < gradient_tolerance, name


@pytest.mark.parametrize('hw', [(4, 5), LARGE])
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_attention_weights_sum_to_one(dtype, hw):
    # Values of 1, no activation and an identity projection: each output channel is the sum of
    # one head's attention weights of its query.
    heads, key_dim, value_dim = 3, 8, 4
    attn = LeViTAttention(heads * value_dim, key_dim, heads, attn_ratio=value_dim / key_dim,
                          pretrain_hw=4, act_layer=nn.Identity, deploy=True).eval()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        qkv = attn.qkv.linear
        qkv.weight.copy_(torch.randn(qkv.weight.shape, generator=gen))
        qkv.bias.copy_(torch.randn(qkv.bias.shape, generator=gen))
        is_value = (torch.arange(qkv.out_features) % (2 * key_dim + value_dim)) >= 2 * key_dim
        qkv.weight[is_value] = 0.0  # per head [q | k | v]
        qkv.bias[is_value] = 1.0
        attn.proj.linear.weight.copy_(torch.eye(heads * value_dim))
        attn.proj.linear.bias.zero_()
        attn.attention_biases.copy_(torch.randn(attn.attention_biases.shape, generator=gen) * 2)
        x = torch.randn(2, hw[0] * hw[1], heads * value_dim, generator=gen)
        with torch.autocast('cpu', dtype=dtype):
            sums = attn(x, hw)
    # the sum is rounded once to the compute dtype: 1 +- half a unit in the last place
    torch.testing.assert_close(sums.float(), torch.ones_like(sums, dtype=torch.float32), rtol=0,
                               atol=torch.finfo(dtype).eps)


def test_drop_path_is_the_identity_in_eval_and_drops_whole_samples_in_training():
    drop = DropPath(0.5)
    x = torch.ones(64, 3, 2)
    assert torch.equal(drop.eval()(x), x)
    torch.manual_seed(0)
    out = drop.train()(x)
    per_sample = out.flatten(1)
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()


def _zero_branch(pair: LinearBN) -> None:
    """Make a branch output exactly 0 (its last norm's affine weight and bias 0)."""
    with torch.no_grad():
        pair.bn.weight.zero_()
        pair.bn.bias.zero_()


def test_block_drops_its_residual_branches_per_sample_never_the_identity_path():
    torch.manual_seed(0)
    block = _randomise(LeViTBlock(16, 4, 2, pretrain_hw=3, drop_path=0.5)).train()
    _zero_branch(block.mlp.fc2)  # out = x + drop_path(attn(x)) exactly
    x = torch.randn(32, 9, 16)
    with torch.no_grad():
        branch = block.attn(x, (3, 3))  # batch statistics of this very batch, as in the block
        torch.manual_seed(1)
        out, _ = block(x, (3, 3))
    kept = [torch.allclose(o - i, b / 0.5, rtol=1e-4, atol=1e-5) for o, i, b in
            zip(out, x, branch)]
    dropped = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(k or d for k, d in zip(kept, dropped))
    assert any(kept) and any(dropped)


def test_shrink_block_never_drops_its_attention_which_has_no_residual():
    torch.manual_seed(0)
    block = _randomise(LeViTShrinkBlock(16, 24, key_dim=4, pretrain_hw=4, drop_path=0.9)).train()
    _zero_branch(block.mlp.fc2)  # the MLP branch adds exactly 0, dropped or not
    x = torch.randn(8, 20, 16)
    with torch.no_grad():
        attended, attended_hw = block.attn(x, (4, 5))
        torch.manual_seed(1)
        out, hw = block(x, (4, 5))
    assert hw == attended_hw == (2, 3)
    torch.testing.assert_close(out, attended)  # every sample kept whole


@pytest.mark.parametrize('hw', [(3, 5), LARGE])
def test_gradients_match_the_einsum_reference_for_input_and_resized_table(hw):
    torch.manual_seed(0)
    attn = _randomise(LeViTAttention(16, key_dim=4, num_heads=2, pretrain_hw=4)).eval()
    tokens = hw[0] * hw[1]
    x = torch.randn(2, tokens, 16, requires_grad=True)
    weight = torch.randn(2, tokens, 16)
    (attn(x, hw) * weight).sum().backward()
    ours = x.grad.clone(), attn.attention_biases.grad.clone()
    x.grad = None
    attn.attention_biases.grad = None
    qkv = _linear_bn(x, attn.qkv).view(2, -1, 2, 16)
    q, k, v = qkv[..., :4], qkv[..., 4:8], qkv[..., 8:]
    gather = _offset_bias if hw == LARGE_GRID else _loop_bias
    bias = gather(_table_at(attn, hw), hw, hw, 1)
    logits = torch.einsum('bnhd,bmhd->bhnm', q, k) / 2.0 + bias
    out = torch.einsum('bhnm,bmhd->bnhd', logits.softmax(-1), v).reshape(2, -1, 16)
    (_linear_bn(F.hardswish(out), attn.proj) * weight).sum().backward()
    torch.testing.assert_close(ours[0], x.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours[1], attn.attention_biases.grad, rtol=1e-4, atol=1e-5)


def test_pickles_and_deep_copies_carry_no_cached_bias():
    attn = _randomise(LeViTAttention(8, 4, 2, pretrain_hw=3)).eval()
    size = len(pickle.dumps(attn))
    with torch.no_grad():  # a 2 x 900 x 900 bias: 6.5 MB if it were pickled
        attn.attention_bias((30, 30), (30, 30))
    assert len(pickle.dumps(attn)) == size
    clone = copy.deepcopy(attn)
    assert len(pickle.dumps(clone)) == size
    torch.testing.assert_close(clone.attention_biases, attn.attention_biases)


def _offset_norm(norm_type):
    """A norm factory whose norms do not start at weight 1, bias 0 (as a custom norm may)."""
    def build(channels: int) -> nn.Module:
        norm = norm_type(channels)
        nn.init.constant_(norm.weight, 0.5)
        nn.init.constant_(norm.bias, 1.0)
        return norm
    return build


def test_pairs_initialise_their_norm_to_the_given_weight_default_1_and_a_zero_bias():
    pairs = {1.0: [ConvBN(3, 4, norm_layer=_offset_norm(nn.BatchNorm2d)),
                   LinearBN(3, 4, norm_layer=_offset_norm(nn.BatchNorm1d))],
             0.0: [ConvBN(3, 4, bn_weight_init=0., norm_layer=_offset_norm(nn.BatchNorm2d)),
                   LinearBN(3, 4, bn_weight_init=0., norm_layer=_offset_norm(nn.BatchNorm1d))]}
    for weight, built in pairs.items():
        for pair in built:
            assert torch.equal(pair.bn.weight, torch.full((4, ), weight)), type(pair).__name__
            assert torch.equal(pair.bn.bias, torch.zeros(4)), type(pair).__name__


def test_conv_bn_defaults_to_a_pointwise_conv_without_bias():
    pair = _randomise(ConvBN(3, 5)).eval()
    assert sorted(pair.state_dict()) == ['bn.bias', 'bn.num_batches_tracked', 'bn.running_mean',
                                         'bn.running_var', 'bn.weight', 'conv.weight']
    x = torch.randn(2, 3, 6, 7)
    bn = pair.bn
    y = torch.einsum('bihw,oi->bohw', x, pair.conv.weight[:, :, 0, 0])
    shape = (1, -1, 1, 1)
    expected = ((y - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var + bn.eps).view(shape)
                * bn.weight.view(shape) + bn.bias.view(shape))
    with torch.no_grad():
        torch.testing.assert_close(pair(x), expected, rtol=1e-5, atol=1e-5)


def test_linear_bn_has_no_linear_bias_in_the_training_form():
    assert sorted(LinearBN(3, 5).state_dict()) == [
        'bn.bias', 'bn.num_batches_tracked', 'bn.running_mean', 'bn.running_var', 'bn.weight',
        'linear.weight']


@pytest.mark.parametrize('pair', [lambda: ConvBN(3, 5, deploy=True),
                                  lambda: LinearBN(3, 5, deploy=True)])
def test_pairs_built_with_deploy_are_folded_and_switching_them_is_a_no_op(pair):
    pair = pair().eval()
    layer = pair.fuse()
    assert pair.deploy and pair.bn is None and layer.bias is not None
    pair.switch_to_deploy()
    assert pair.fuse() is layer and pair.bn is None


def test_drop_path_rejects_rates_outside_0_to_1():
    for rate in [1.0, -0.1]:
        with pytest.raises(ValueError, match=names('drop_prob', rate)):
            DropPath(rate)


def test_drop_path_at_its_default_rate_0_returns_its_input_and_draws_no_random_numbers():
    drop = DropPath().train()
    x = torch.randn(4, 3, 2)
    state = torch.get_rng_state()
    assert drop(x) is x
    assert torch.equal(torch.get_rng_state(), state)


def test_stem_defaults_to_rgb_in_256_out_with_hardswish_between_the_four_convs_only():
    stem = LeViTStem()
    assert stem.conv1.conv.in_channels == 3
    assert stem.out_channels == [32, 64, 128, 256]
    assert [name for name, _ in stem.named_children()] == [
        'conv1', 'act1', 'conv2', 'act2', 'conv3', 'act3', 'conv4']
    assert all(isinstance(getattr(stem, f'act{i}'), nn.Hardswish) for i in (1, 2, 3))


@pytest.mark.parametrize('attention, args', [(LeViTAttention, (8, 4, 2)),
                                             (LeViTShrinkAttention, (8, 12, 4, 2))])
def test_attentions_reject_an_unknown_bias_interpolation(attention, args):
    with pytest.raises(ValueError, match=names('bias_interpolation', "'area'")):
        attention(*args, bias_interpolation='area')


def test_a_rectangular_pretraining_grid_stores_and_uses_a_table_of_that_grid():
    attn = _randomise(LeViTAttention(16, 4, 2, pretrain_hw=[3, 4])).eval()
    assert attn.pretrain_hw == (3, 4) and attn.attention_biases.shape == (2, 12)
    with torch.no_grad():  # at the pretraining grid the table is used as stored
        torch.testing.assert_close(attn.attention_bias((3, 4), (3, 4)),
                                   _loop_bias(attn.attention_biases, (3, 4), (3, 4), 1))


def test_block_defaults_are_the_papers_ratios_and_the_14x14_table():
    # LeViT at 224: 14 x 14 tokens; attention value dim 2D, shrink 4D; MLP hidden 2C [paper]
    attn = LeViTAttention(16, 4, 2)
    shrink = LeViTShrinkAttention(16, 24, 4, 4)
    block = LeViTBlock(16, 4, 2)
    shrink_block = LeViTShrinkBlock(16, 24, 4)
    for module in [attn, shrink, block.attn, shrink_block.attn]:
        assert module.pretrain_hw == (14, 14)
        assert module.attention_biases.shape[1] == 196
    assert attn.value_dim == block.attn.value_dim == 8
    assert shrink.value_dim == shrink_block.attn.value_dim == 16 and shrink.stride == 2
    assert shrink_block.attn.num_heads == 4  # in_dim // key_dim
    assert LeViTMlp(16).fc1.linear.out_features == block.mlp.fc1.linear.out_features == 32
    assert shrink_block.mlp.fc1.linear.out_features == 48
    assert block.drop_path.drop_prob == shrink_block.drop_path.drop_prob == 0.


def test_block_adds_its_attention_then_its_mlp_to_the_input():
    block = _randomise(LeViTBlock(16, 4, 2, pretrain_hw=3)).eval()
    x = torch.randn(2, 12, 16)
    with torch.no_grad():
        attended = x + block.attn(x, (3, 4))
        expected = attended + block.mlp(attended)
        out, hw = block(x, (3, 4))
    assert hw == (3, 4)
    torch.testing.assert_close(out, expected)


def test_shrink_block_adds_its_mlp_to_the_shrink_attention_output():
    block = _randomise(LeViTShrinkBlock(16, 24, key_dim=4, pretrain_hw=4)).eval()
    x = torch.randn(2, 20, 16)
    with torch.no_grad():
        attended, attended_hw = block.attn(x, (4, 5))
        expected = attended + block.mlp(attended)
        out, hw = block(x, (4, 5))
    assert hw == attended_hw == (2, 3)
    torch.testing.assert_close(out, expected)
