"""LambdaLayer against the paper's einsum with an explicit relative-embedding table; properties.

The reference below is written from the paper (arXiv:2102.08602, section 3 and its multi-query
pseudo-code): it builds the n x m x k x u embedding table position by position and applies the
four einsums, with BatchNorm written out by hand. It shares nothing with the layer's code path
(which uses convolutions, chunking and an FFT backward).
"""
import pytest
import torch
from torch import nn
from torch.func import functional_call

from mmattn.layers import LambdaLayer
from messages import names


def _make(in_channels=6, out_channels=8, seed=0, dtype=torch.float64, **kwargs) -> LambdaLayer:
    torch.manual_seed(seed)
    kwargs.setdefault('dim_k', 3)
    kwargs.setdefault('heads', 2)
    layer = LambdaLayer(in_channels, out_channels, **kwargs).to(dtype)
    with torch.no_grad():  # non-trivial BN affine parameters and statistics, and a bias if any
        for norm in (layer.norm_queries, layer.norm_values):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_()
            norm.running_mean.normal_()
            norm.running_var.uniform_(0.5, 1.5)
        layer.position_embeddings.normal_()
        if layer.position_bias is not None:
            layer.position_bias.normal_()
    return layer


def _input(shape, seed=1, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


def _batch_norm(x: torch.Tensor, norm: nn.BatchNorm2d, training: bool) -> torch.Tensor:
    if training:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    else:
        mean = norm.running_mean.reshape(1, -1, 1, 1)
        var = norm.running_var.reshape(1, -1, 1, 1)
    return ((x - mean) / torch.sqrt(var + norm.eps) * norm.weight.reshape(1, -1, 1, 1)
            + norm.bias.reshape(1, -1, 1, 1))


def _embedding_table(layer: LambdaLayer, height: int, width: int) -> torch.Tensor:
    """E[n, m, k, u]: the embedding of context m relative to query n (zero outside the scope)."""
    embeddings = layer.position_embeddings  # k, u, scope_h, scope_w
    reach_h, reach_w = embeddings.shape[-2] // 2, embeddings.shape[-1] // 2
    positions = [(y, x) for y in range(height) for x in range(width)]
    rows = []
    for query_y, query_x in positions:
        row = []
        for context_y, context_x in positions:
            dy, dx = context_y - query_y, context_x - query_x
            if abs(dy) <= reach_h and abs(dx) <= reach_w:
                row.append(embeddings[:, :, dy + reach_h, dx + reach_w])
            else:
                row.append(torch.zeros_like(embeddings[:, :, 0, 0]))
        rows.append(torch.stack(row))
    return torch.stack(rows)  # n, m, k, u


def _projection(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    return torch.einsum('oc,bchw->bohw', conv.weight[:, :, 0, 0], x)


def _reference_terms(layer: LambdaLayer, x: torch.Tensor, return_lambdas: bool = False):
    """Paper einsums; returns (content, position), each (B, out_channels, H, W)."""
    batch, _, height, width = x.shape
    h, k, u, v = layer.heads, layer.dim_k, layer.dim_u, layer.dim_v
    n = height * width
    training = layer.training
    queries = _batch_norm(_projection(layer.to_queries, x), layer.norm_queries, training)
    keys = _projection(layer.to_keys, x)  # no BatchNorm on keys
    values = _batch_norm(_projection(layer.to_values, x), layer.norm_values, training)
    queries = queries.reshape(batch, h, k, n)  # channel order (h, k)
    keys = keys.reshape(batch, k, u, n).permute(0, 3, 1, 2)  # b m k u
    values = values.reshape(batch, v, u, n).permute(0, 3, 1, 2)  # b m v u
    keys = torch.softmax(keys, dim=1)  # over the context positions m

    content_lambda = torch.einsum('bmku,bmvu->bkv', keys, values)
    position_lambdas = torch.einsum('nmku,bmvu->bnkv', _embedding_table(layer, height, width),
                                    values)
    if layer.position_bias is not None:
        position_lambdas = position_lambdas + layer.position_bias.reshape(1, 1, k, 1)
    if return_lambdas:
        return content_lambda, position_lambdas
    content = torch.einsum('bhkn,bkv->bnhv', queries, content_lambda)
    position = torch.einsum('bhkn,bnkv->bnhv', queries, position_lambdas)

    def to_map(y):  # b n h v -> b (h v) H W
        return y.reshape(batch, height, width, h * v).permute(0, 3, 1, 2)

    return to_map(content), to_map(position)


def _reference(layer: LambdaLayer, x: torch.Tensor) -> torch.Tensor:
    content, position = _reference_terms(layer, x)
    return content + position


def _average_pool_3x3_stride_2(y: torch.Tensor) -> torch.Tensor:
    """Brute-force mean over the in-map pixels of each 3x3 window centred at even positions."""
    height, width = y.shape[-2:]
    rows = []
    for i in range(0, height, 2):
        row = []
        for j in range(0, width, 2):
            window = y[..., max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
            row.append(window.mean(dim=(-2, -1)))
        rows.append(torch.stack(row, dim=-1))
    return torch.stack(rows, dim=-2)


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('bias', [False, True])
def test_local_form_equals_paper_einsum_with_the_same_r(training, bias):
    layer = _make(r=5, bias=bias).train(training)
    x = _input((2, 6, 7, 9))
    torch.testing.assert_close(layer(x), _reference(layer, x))


def test_global_form_equals_paper_einsum_with_relative_embeddings():
    layer = _make(r=None, size=(5, 6)).train()
    x = _input((2, 6, 5, 6))
    torch.testing.assert_close(layer(x), _reference(layer, x))


def test_intra_depth_u_greater_than_one_equals_paper_einsum():
    layer = _make(dim_u=3, r=3).train()
    x = _input((2, 6, 6, 5))
    torch.testing.assert_close(layer(x), _reference(layer, x))


@pytest.mark.parametrize('size', [(3, 2), (1, 1), (2, 5)])
def test_maps_smaller_than_r_equal_paper_einsum(size):
    layer = _make(r=7).eval()
    x = _input((2, 6, *size))
    torch.testing.assert_close(layer(x), _reference(layer, x))


# Position lambdas of 2 x 64 x 201 x 30 = 772k elements: more than the layer holds at once (the
# module docstring), so forward and backward loop over slices of the value channels. Map sides
# 5 and 6 with r=5 need circular FFT sizes of at least 7 and 8: 7 is not a fast FFT length.
_CHUNKED = dict(out_channels=2 * 201, dim_k=64, dim_u=2, r=5, bias=True)
_CHUNKED_SIZE = (5, 6)


@pytest.mark.parametrize('training', [True, False])
def test_position_term_larger_than_one_slice_equals_paper_einsum(training):
    layer = _make(**_CHUNKED).train(training)
    x = _input((2, 6, *_CHUNKED_SIZE))
    torch.testing.assert_close(layer(x), _reference(layer, x))


def test_forward_terms_are_the_content_and_position_outputs_of_the_paper():
    layer = _make(r=3).eval()
    x = _input((2, 6, 5, 4))
    content, position = layer.forward_terms(x)
    ref_content, ref_position = _reference_terms(layer, x)
    torch.testing.assert_close(content, ref_content)
    torch.testing.assert_close(position, ref_position)


@pytest.mark.parametrize('size', [(7, 9), (8, 6), (1, 1), (5, 2)])
def test_stride_two_is_the_stride_one_layer_then_3x3_average_pooling(size):
    strided = _make(r=3, stride=2).train()
    plain = _make(r=3, stride=1).train()
    plain.load_state_dict(strided.state_dict())
    x = _input((2, 6, *size))
    out = strided(x)
    assert out.shape[-2:] == (-(-size[0] // 2), -(-size[1] // 2))
    torch.testing.assert_close(out, _average_pool_3x3_stride_2(plain(x)))


@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('size', [(13, 7), (31, 32), (2, 3)])
def test_output_shape_is_out_channels_by_ceil_of_size_over_stride(size, stride):
    layer = _make(out_channels=10, r=23, stride=stride, dtype=torch.float32)
    out = layer(_input((1, 6, *size), dtype=torch.float32))
    assert out.shape == (1, 10, -(-size[0] // stride), -(-size[1] // stride))


def test_gradients_pass_gradcheck_in_float64():
    layer = _make(in_channels=3, out_channels=4, dim_u=2, r=3, bias=True).train()
    names = [name for name, _ in layer.named_parameters()]
    x = _input((2, 3, 4, 3)).requires_grad_()

    def fn(x, *params):
        return functional_call(layer, dict(zip(names, params)), (x, ))

    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())
    assert torch.autograd.gradcheck(fn, (x, *params), fast_mode=True)


@pytest.mark.parametrize('kwargs, size', [
    (dict(out_channels=16, dim_u=2, r=5, bias=True), (9, 11)),  # FFT sizes from 11 and 13
    (_CHUNKED, _CHUNKED_SIZE),
], ids=['one_slice', 'several_slices'])
def test_gradients_equal_autograd_through_the_paper_einsum(kwargs, size):
    layer = _make(**kwargs).train()
    x = _input((2, 6, *size)).requires_grad_()
    upstream = _input((2, layer.out_channels, *size), seed=5)
    ours = torch.autograd.grad((layer(x) * upstream).sum(), [x, *layer.parameters()])
    ref = torch.autograd.grad((_reference(layer, x) * upstream).sum(), [x, *layer.parameters()])
    for name, got, want in zip(['x'] + [n for n, _ in layer.named_parameters()], ours, ref):
        torch.testing.assert_close(got, want, msg=lambda m, name=name: f'{name}: {m}')


# Which inputs of the position term then need a gradient: (queries, values, embeddings).
_FROZEN = {
    'embeddings': (['position_embeddings'], True),  # fine-tuning with a fixed table: (q, v)
    'values': (['to_values', 'norm_values'], False),  # (q, e)
    'queries': (['to_queries', 'norm_queries'], False),  # (v, e)
    'values_and_embeddings': (['to_values', 'norm_values', 'position_embeddings'],
                              False),  # (q) alone
    'all_but_embeddings': (['to_queries', 'norm_queries', 'to_keys', 'to_values',
                            'norm_values', 'position_bias'], False),  # (e) alone
    'all_parameters': ([''], True),  # (q, v): input gradient only
}


@pytest.mark.parametrize('frozen', sorted(_FROZEN))
def test_backward_with_some_inputs_frozen_equals_autograd_through_the_paper_einsum(frozen):
    prefixes, input_grad = _FROZEN[frozen]
    layer = _make(**_CHUNKED).train()
    for name, param in layer.named_parameters():
        param.requires_grad_(not name.startswith(tuple(prefixes)))
    trainable = [(name, p) for name, p in layer.named_parameters() if p.requires_grad]
    x = _input((2, 6, *_CHUNKED_SIZE)).requires_grad_(input_grad)
    wrt = ([('x', x)] if input_grad else []) + trainable
    upstream = _input((2, layer.out_channels, *_CHUNKED_SIZE), seed=5)
    ours = torch.autograd.grad((layer(x) * upstream).sum(), [t for _, t in wrt])
    ref = torch.autograd.grad((_reference(layer, x) * upstream).sum(), [t for _, t in wrt])
    for (name, _), got, want in zip(wrt, ours, ref):
        torch.testing.assert_close(got, want, msg=lambda m, name=name: f'{name}: {m}')
    layer.zero_grad(set_to_none=True)
    (layer(x) * upstream).sum().backward()
    for name, param in layer.named_parameters():
        assert (param.grad is None) == (not param.requires_grad), name


def test_position_output_ignores_pixels_outside_the_r_by_r_scope():
    layer = _make(r=3).eval()
    x = _input((1, 6, 8, 8))
    changed = x.clone()
    changed[:, :, 6, 6] += 5.0  # outside the 3x3 scope of (0..4, 0..4)
    _, position = layer.forward_terms(x)
    _, position_changed = layer.forward_terms(changed)
    torch.testing.assert_close(position_changed[..., :5, :5], position[..., :5, :5])
    assert (position_changed[..., 5:, 5:] - position[..., 5:, 5:]).abs().amax() > 1e-3


def test_content_output_changes_everywhere_when_any_pixel_changes():
    layer = _make(r=3).eval()
    x = _input((1, 6, 8, 8))
    changed = x.clone()
    changed[:, :, 6, 6] += 5.0
    content, _ = layer.forward_terms(x)
    content_changed, _ = layer.forward_terms(changed)
    difference = (content_changed - content).abs().amax(dim=1)  # per pixel
    assert (difference > 1e-6).all()


def test_output_is_translation_equivariant_away_from_the_borders():
    layer = _make(r=3).eval()
    x = _input((1, 6, 12, 12))
    shift = (2, 3)
    shifted = torch.roll(x, shifts=shift, dims=(-2, -1))
    out, out_shifted = layer(x), layer(shifted)
    # queries whose 3x3 scope lies inside the map in both inputs and holds no wrapped pixel
    interior = out[..., 1:12 - 1 - shift[0], 1:12 - 1 - shift[1]]
    moved = out_shifted[..., 1 + shift[0]:12 - 1, 1 + shift[1]:12 - 1]
    torch.testing.assert_close(moved, interior)


def test_softmax_of_keys_is_over_positions_not_key_channels():
    # adding a per-channel constant to the key logits changes nothing (softmax over positions is
    # shift-invariant per channel); a per-position constant would change the output.
    layer = _make(r=3).eval()
    x = _input((1, 6, 5, 5))
    out = layer(x)
    handle = layer.to_keys.register_forward_hook(
        lambda module, args, output: output + torch.arange(output.shape[1], dtype=output.dtype)
        .reshape(1, -1, 1, 1))
    torch.testing.assert_close(layer(x), out)
    handle.remove()
    handle = layer.to_keys.register_forward_hook(
        lambda module, args, output: output + torch.linspace(0, 3, 25, dtype=output.dtype)
        .reshape(1, 1, 5, 5))
    assert (layer(x) - out).abs().amax() > 1e-3
    handle.remove()


def test_convolutions_have_no_bias_unless_bias_is_true():
    plain = LambdaLayer(8, 8, dim_k=4, heads=2, r=3)
    assert all(conv.bias is None for conv in plain.modules() if isinstance(conv, nn.Conv2d))
    assert plain.position_bias is None
    assert not any('bias' in name and 'norm' not in name for name, _ in plain.named_parameters())
    biased = LambdaLayer(8, 8, dim_k=4, heads=2, r=3, bias=True)
    assert biased.position_bias.shape == (4, )


def test_backward_keeps_no_position_lambdas():
    # paper-scale depths (k=16, v=64): the lambdas would be k*v = 1024 numbers per pixel
    layer = LambdaLayer(32, 256, dim_k=16, heads=4, r=5).train()
    x = torch.randn(2, 32, 12, 12, requires_grad=True)
    saved = {}

    def pack(tensor):
        saved[(tensor.data_ptr(), tensor.numel())] = tensor.numel()  # each storage once
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        layer(x)
    saved_per_pixel = sum(saved.values()) / (2 * 12 * 12)
    assert saved_per_pixel < layer.dim_k * layer.dim_v / 2


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_forward_and_backward_are_finite_and_close_to_float32(dtype):
    layer = _make(in_channels=16, out_channels=16, dim_k=4, heads=4, r=5,
                  dtype=torch.float32).train()
    x = _input((2, 16, 9, 9), dtype=torch.float32) * 3
    want = layer(x)
    want_grads = torch.autograd.grad(want.square().mean(), list(layer.parameters()))
    with torch.autocast('cpu', dtype=dtype):
        got = layer(x)
    assert got.dtype == dtype
    got_grads = torch.autograd.grad(got.float().square().mean(), list(layer.parameters()))
    torch.testing.assert_close(got.float(), want, rtol=0.05, atol=0.02 * want.abs().max().item())
    for got_grad, want_grad in zip(got_grads, want_grads):
        assert torch.isfinite(got_grad).all()
        torch.testing.assert_close(got_grad, want_grad, rtol=0.1,
                                   atol=0.05 * want_grad.abs().max().item())


def test_autocast_accumulates_lambdas_beyond_the_float16_range():
    # position lambdas around 1e6 (beyond float16's 65504) contracted with tiny queries: the
    # output is moderate, and finite only if the lambdas are formed and applied in float32.
    layer = _make(in_channels=8, out_channels=8, dim_k=4, heads=2, r=5,
                  dtype=torch.float32).eval()
    with torch.no_grad():
        layer.position_embeddings.fill_(1000.0)
        layer.norm_values.weight.fill_(100.0)
        layer.norm_queries.weight.fill_(1e-4)
        layer.norm_queries.bias.zero_()
    x = _input((1, 8, 6, 6), dtype=torch.float32)
    want = layer(x)
    _, position_lambdas = _reference_terms(layer, x, return_lambdas=True)
    assert position_lambdas.abs().max() > 1e5 and want.abs().max() < 6e4
    with torch.autocast('cpu', dtype=torch.float16):
        got = layer(x)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.float(), want, rtol=0.01, atol=0.01 * want.abs().max().item())


def test_global_form_rejects_other_sizes_with_a_clear_error():
    layer = _make(r=None, size=(5, 6), dtype=torch.float32)
    with pytest.raises(ValueError, match=names('(5, 6)', '6x5')):
        layer(torch.randn(2, 6, 6, 5))


@pytest.mark.parametrize('kwargs, message', [
    (dict(out_channels=250, heads=4), names('out_channels', 250, 'heads', 4)),
    (dict(r=8), names('r', 8)),
    (dict(r=None), names('r=None', 'size')),
    (dict(r=5, size=(4, 4)), names('size', (4, 4), 'r=None')),
    (dict(stride=3), names('stride', 3)),
    (dict(dim_k=0), names('dim_k', 0)),
])
def test_invalid_arguments_raise_errors_naming_the_value(kwargs, message):
    arguments = dict(in_channels=8, out_channels=8)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        LambdaLayer(**arguments)


def test_wrong_input_channels_raise_a_clear_error():
    layer = LambdaLayer(8, 8, dim_k=4, heads=2, r=3)
    with pytest.raises(ValueError, match=names('(B, 8, H, W)', '(1, 6, 5, 5)')):
        layer(torch.randn(1, 6, 5, 5))


def test_position_bias_matches_a_per_key_channel_bias_of_the_lambdas():
    layer = _make(r=3, bias=True).eval()
    x = _input((1, 6, 4, 4))
    _, position = layer.forward_terms(x)
    with torch.no_grad():
        bias = layer.position_bias.clone()
        layer.position_bias.zero_()
    _, unbiased = layer.forward_terms(x)
    queries = _batch_norm(_projection(layer.to_queries, x), layer.norm_queries, False)
    queries = queries.reshape(1, layer.heads, layer.dim_k, 4, 4)
    expected = torch.einsum('bhkyx,k->bhyx', queries, bias).repeat_interleave(layer.dim_v, 1)
    torch.testing.assert_close(position - unbiased, expected)


def test_paper_default_hyper_parameters():
    layer = LambdaLayer(64, 64)
    assert (layer.dim_k, layer.heads, layer.dim_u, layer.r) == (16, 4, 1, 23)
    assert layer.position_embeddings.shape == (16, 1, 23, 23)


def test_paper_default_position_embeddings_start_with_unit_variance_output_scale():
    # std (k * u * scope)^-1/2 (module docstring); dim_u=2 and r=23 tell k*u, k/u, scope and
    # each of its two sides apart. 16 * 2 * 529 draws: the sample std is within ~1% of the truth.
    torch.manual_seed(0)
    layer = LambdaLayer(8, 8, dim_k=16, heads=2, dim_u=2, r=23)
    embeddings = layer.position_embeddings
    assert embeddings.shape == (16, 2, 23, 23)
    assert embeddings.std().item() == pytest.approx((16 * 2 * 23 * 23)**-0.5, rel=0.05)
    assert abs(embeddings.mean().item()) < 0.1 * embeddings.std().item()


def test_init_weights_restores_the_layers_own_init_after_a_host_init():
    # mmengine applies a host's init_cfg to every sub-module, then calls init_weights() of the
    # children: the norms, the position bias and the embeddings must come back.
    layer = LambdaLayer(8, 8, dim_k=16, heads=2, dim_u=2, r=23, bias=True)
    with torch.no_grad():
        for param in layer.parameters():
            param.fill_(3.0)
    torch.manual_seed(0)
    layer.init_weights()
    for norm in (layer.norm_queries, layer.norm_values):
        assert (norm.weight == 1).all() and (norm.bias == 0).all()
    assert (layer.position_bias == 0).all()
    assert layer.position_embeddings.std().item() == pytest.approx((16 * 2 * 23 * 23)**-0.5,
                                                                   rel=0.05)
    for conv in (layer.to_queries, layer.to_keys, layer.to_values):
        assert (conv.weight != 3.0).all()


def test_a_norm_without_affine_parameters_is_accepted():
    layer = LambdaLayer(6, 8, dim_k=3, heads=2, r=3,
                        norm_layer=lambda channels: nn.BatchNorm2d(channels, affine=False))
    layer.init_weights()
    assert layer.norm_queries.weight is None
    assert layer(_input((2, 6, 4, 4), dtype=torch.float32)).shape == (2, 8, 4, 4)


def test_r_equal_to_one_is_a_valid_scope_and_equals_paper_einsum():
    layer = _make(r=1).eval()
    assert layer.position_embeddings.shape == (3, 1, 1, 1)
    x = _input((2, 6, 4, 5))
    torch.testing.assert_close(layer(x), _reference(layer, x))


@pytest.mark.parametrize('size', [(1, 3), (3, 1)])
def test_global_form_with_a_one_pixel_side_equals_paper_einsum(size):
    layer = _make(r=None, size=size).train()
    x = _input((2, 6, *size))
    torch.testing.assert_close(layer(x), _reference(layer, x))


@pytest.mark.parametrize('size', [(5, 8), (8, 5), (1, 4)])
def test_global_form_embeddings_cover_exactly_the_relative_offsets_of_the_map(size):
    # one embedding per offset (dy, dx) with |dy| < H and |dx| < W: nothing unreachable, so a
    # checkpoint for size (H, W) has (2H - 1) x (2W - 1) embeddings per (k, u)
    layer = LambdaLayer(8, 8, dim_k=4, heads=2, dim_u=3, r=None, size=size)
    assert layer.position_embeddings.shape == (4, 3, 2 * size[0] - 1, 2 * size[1] - 1)


@pytest.mark.parametrize('size', [(4, ), (4, 4, 4), (0, 4), (4, -2), (4.0, 4)])
def test_global_form_rejects_a_size_that_is_not_two_positive_ints(size):
    with pytest.raises(ValueError, match=names('size', size)):
        LambdaLayer(8, 8, r=None, size=size)


@pytest.mark.parametrize('r', [0, -1, -3, 2, 3.0, True])
def test_r_must_be_an_odd_positive_int(r):
    with pytest.raises(ValueError, match=names('r', repr(r))):
        LambdaLayer(8, 8, r=r)


@pytest.mark.parametrize('name', ['in_channels', 'out_channels', 'dim_k', 'heads', 'dim_u'])
@pytest.mark.parametrize('value', [0, -2, 2.0, True])
def test_sizes_must_be_positive_ints(name, value):
    arguments = dict(in_channels=8, out_channels=8, r=3)
    arguments[name] = value
    with pytest.raises(ValueError, match=names(name, repr(value))):
        LambdaLayer(**arguments)


def test_a_norm_layer_that_is_not_a_factory_raises_a_clear_error():
    with pytest.raises(TypeError, match=names('norm_layer', "{'type': 'BN'}")):
        LambdaLayer(8, 8, r=3, norm_layer=dict(type='BN'))


def test_an_empty_batch_gives_an_empty_output():
    layer = _make(r=3).eval()
    assert layer(_input((0, 6, 5, 4))).shape == (0, 8, 5, 4)


def test_maps_smaller_than_r_cost_what_the_map_needs():
    # A 3x3 map reaches offsets -2..2: with the embeddings cropped to them, r=23 costs exactly
    # what r=5 costs (counted FLOPs, no timing), not a 23x23 (or any wider) convolution.
    from torch.utils.flop_counter import FlopCounterMode

    x = _input((1, 6, 3, 3), dtype=torch.float32)
    flops = {}
    for r in (5, 23):
        layer = _make(r=r, dtype=torch.float32).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            layer(x)
        flops[r] = counter.get_total_flops()
    assert flops[23] == flops[5]
