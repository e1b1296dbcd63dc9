"""X-volution operator: against loop/einsum references, deploy equivalence and its properties."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mmattn.layers import XVolution
from messages import names

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)

DIRECTIONS_8 = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]


def _randomise_norms(module: nn.Module, seed: int = 1) -> None:
    """Non-trivial BN statistics and affine parameters, so that folding them is really tested."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for norm in module.modules():
            if isinstance(norm, nn.BatchNorm2d):
                norm.weight.copy_(torch.rand(norm.weight.shape, generator=generator) + 0.5)
                norm.bias.copy_(torch.randn(norm.bias.shape, generator=generator))
                norm.running_mean.copy_(torch.randn(norm.running_mean.shape, generator=generator))
                norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=generator)
                                       + 0.5)


def _make(in_channels=4, out_channels=6, seed=0, **kwargs) -> XVolution:
    torch.manual_seed(seed)
    kwargs.setdefault('padding', kwargs.get('dilation', 1) * (kwargs.get('kernel_size', 3) // 2))
    module = XVolution(in_channels, out_channels, **kwargs)
    if hasattr(module, 'offset_weight'):
        with torch.no_grad():  # away from the all-ones init, so that each offset is told apart
            module.offset_weight.copy_(torch.randn(module.offset_weight.shape) + 1)
    _randomise_norms(module)
    return module.eval()


def _input(shape=(2, 4, 7, 9), seed=3) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _bn(x: torch.Tensor, norm: nn.BatchNorm2d) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    return ((x - norm.running_mean.reshape(shape)) / torch.sqrt(norm.running_var.reshape(shape)
                                                                + norm.eps)
            * norm.weight.reshape(shape) + norm.bias.reshape(shape))


def _reference_pssa(module: XVolution, x: torch.Tensor, step: int) -> torch.Tensor:
    """Loop over query pixels and explicit offsets (zeros outside the image)."""
    batch, channels, height, width = x.shape
    heads = module.heads
    out_h, out_w = len(range(0, height, step)), len(range(0, width, step))
    out = torch.zeros(batch, channels, out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            p_y, p_x = i * step, j * step
            center = x[:, :, p_y, p_x]  # B, C
            logits, values = [], []
            for dy, dx in module.offsets:
                q_y, q_x = p_y + dy, p_x + dx
                inside = 0 <= q_y < height and 0 <= q_x < width
                value = x[:, :, q_y, q_x] if inside else torch.zeros(batch, channels)
                product = center * value
                if module.product == 'sum':
                    per_head = product.reshape(batch, heads, -1).sum(-1) / math.sqrt(
                        channels // heads)
                    product = per_head.repeat_interleave(channels // heads, dim=1)
                logits.append(product)
                values.append(value)
            logits = torch.stack(logits)  # D, B, C
            if module.normalize == 'none':
                responses = logits
            elif module.normalize == 'softmax':
                responses = torch.exp(logits) / torch.exp(logits).sum(0) * torch.stack(values)
            else:
                responses = torch.stack(values) / (1 + torch.exp(-logits))
            out[:, :, i, j] = (responses * module.offset_weight[:, None, :]).sum(0)
    return out


def _reference_sa(module: XVolution, x: torch.Tensor, step: int) -> torch.Tensor:
    """Brute-force global attention: every strided query against all keys, values = x."""
    batch, channels, height, width = x.shape
    heads = module.heads
    queries = torch.einsum('qc,bchw->bqhw', module.query.weight[:, :, 0, 0], x)[..., ::step, ::step]
    keys = torch.einsum('qc,bchw->bqhw', module.key.weight[:, :, 0, 0], x)
    out_h, out_w = queries.shape[-2:]
    queries = queries.reshape(batch, heads, -1, out_h * out_w)
    keys = keys.reshape(batch, heads, -1, height * width)
    values = x.reshape(batch, heads, -1, height * width)
    logits = torch.einsum('bhdq,bhdk->bhqk', queries, keys) / math.sqrt(queries.shape[2])
    weights = torch.exp(logits - logits.amax(-1, keepdim=True))
    weights = weights / weights.sum(-1, keepdim=True)
    out = torch.einsum('bhqk,bhck->bhcq', weights, values)
    return out.reshape(batch, channels, out_h, out_w)


def _reference_forward(module: XVolution, x: torch.Tensor) -> torch.Tensor:
    """Training form in eval mode, written out: BN_c(conv(x)) + BN_a(project(attention(x)))."""
    step = module.stride if module.stride_mode == 'subsample' else 1
    conv = F.conv2d(x, module.conv.weight, module.conv.bias, module.stride, module.padding,
                    module.dilation, module.conv.groups)
    if module.conv_norm is not None:
        conv = _bn(conv, module.conv_norm)
    if module.attention == 'sa':
        response = _reference_sa(module, x, step)
    else:
        response = _reference_pssa(module, x, step)
    if module.stride_mode == 'avgpool' and module.stride > 1:
        size = module.dilation * (module.kernel_size - 1) + 1
        padded = F.pad(response, [module.padding] * 4)
        out_h, out_w = conv.shape[-2:]
        pooled = torch.zeros(*response.shape[:2], out_h, out_w)
        for i in range(out_h):
            for j in range(out_w):
                window = padded[..., i * module.stride:i * module.stride + size,
                                j * module.stride:j * module.stride + size]
                pooled[..., i, j] = window.sum((-1, -2)) / size**2
        response = pooled
    attention = torch.einsum('oc,bchw->bohw', module.project.weight[:, :, 0, 0], response)
    return conv + _bn(attention, module.attention_norm)


PSSA_SETTINGS = [
    dict(product='channel', normalize='none'),
    dict(product='channel', normalize='softmax'),
    dict(product='channel', normalize='sigmoid'),
    dict(product='sum', normalize='none', heads=2),
    dict(product='sum', normalize='softmax', heads=2),
    dict(product='channel', normalize='none', directions=4, shifts=(1, 2)),
    # explicit shifts of several lengths: the zero padding must cover the longest one
    dict(product='channel', normalize='sigmoid', directions=4, shifts=(1, 2)),
]


@pytest.mark.parametrize('setting', PSSA_SETTINGS, ids=lambda s: '-'.join(map(str, s.values())))
@pytest.mark.parametrize('stride', [1, 2])
def test_pssa_equals_loop_reference_with_explicit_shifts(setting, stride):
    module = _make(attention='pssa', stride=stride, **setting)
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(module(x), _reference_forward(module, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('heads', [1, 2])
def test_sa_equals_brute_force_global_attention(stride, heads):
    module = _make(attention='sa', stride=stride, heads=heads, qk_channels=6)
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(module(x), _reference_forward(module, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('stride', [1, 2])  # stride 1: nothing to pool, as 'subsample'
@pytest.mark.parametrize('attention', ['sa', 'pssa'])
def test_avgpool_stride_mode_pools_the_full_resolution_response(attention, stride):
    module = _make(attention=attention, stride=stride, stride_mode='avgpool', dilation=2)
    x = _input((1, 4, 9, 7))
    with torch.no_grad():
        torch.testing.assert_close(module(x), _reference_forward(module, x), rtol=1e-4, atol=1e-4)


DEPLOY_CASES = [
    dict(attention='sa'),
    dict(attention='sa', stride=2, heads=2),
    dict(attention='sa', dilation=2, stride_mode='avgpool', stride=2),
    dict(attention='pssa'),
    dict(attention='pssa', stride=2),
    dict(attention='pssa', dilation=2),
    dict(attention='pssa', stride=2, dilation=3, shifts=(1, 3), directions=4),
    dict(attention='pssa', stride=2, stride_mode='avgpool'),
    dict(attention='pssa', normalize='softmax', product='sum', heads=2, stride=2),
    dict(attention='pssa', normalize='sigmoid', dilation=2),
    dict(attention='pssa', conv_norm=False, bias=True),
    dict(attention='sa', conv_norm=False, stride=2),
    dict(attention='pssa', kernel_size=5, padding=2, stride=2),
]


@pytest.mark.parametrize('case', DEPLOY_CASES, ids=lambda c: '-'.join(map(str, c.values())))
@pytest.mark.parametrize('size', [(7, 9), (8, 8), (5, 11)])
def test_deploy_form_equals_training_form_in_eval(case, size):
    module = _make(**case)
    x = _input((2, 4) + size)
    with torch.no_grad():
        expected = module(x)
        module.switch_to_deploy()
        actual = module(x)
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max() <= 1e-5 * expected.abs().max()


@pytest.mark.parametrize('attention', ['sa', 'pssa'])
def test_deploy_form_has_no_batchnorm_and_no_training_branches(attention):
    module = _make(attention=attention)
    module.switch_to_deploy()
    assert not any(isinstance(m, BATCH_NORMS) for m in module.modules())
    assert module.conv_norm is None and not hasattr(module, 'attention_norm')
    assert module.conv.bias.shape == (module.conv.out_channels, )  # holds the folded BN shift


def test_linear_pssa_deploy_form_merges_the_shift_branches_into_depthwise_convs():
    module = _make(attention='pssa', shifts=(1, 2))
    module.switch_to_deploy()
    assert not hasattr(module, 'offset_weight')
    assert [conv.dilation for conv in module.neighbour_convs] == [(1, 1), (2, 2)]
    assert all(conv.groups == 4 for conv in module.neighbour_convs)


@pytest.mark.parametrize('attention', ['sa', 'pssa'])
def test_switch_to_deploy_twice_changes_nothing(attention):
    module = _make(attention=attention, stride=2)
    x = _input()
    module.switch_to_deploy()
    state = {k: v.clone() for k, v in module.state_dict().items()}
    with torch.no_grad():
        once = module(x)
        module.switch_to_deploy()
        twice = module(x)
    assert state.keys() == module.state_dict().keys()
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in state.items())
    assert torch.equal(once, twice)


def test_switch_to_deploy_in_training_mode_is_an_error():
    module = _make().train()
    with pytest.raises(RuntimeError, match=names('eval')):
        module.switch_to_deploy()


@pytest.mark.parametrize('case', [dict(attention='sa'), dict(attention='pssa'),
                                  dict(attention='pssa', normalize='softmax', product='sum')])
def test_deploy_checkpoint_loads_into_a_module_built_in_deploy_form(case):
    module = _make(stride=2, **case)
    x = _input()
    module.switch_to_deploy()
    rebuilt = XVolution(4, 6, stride=2, deploy=True, **case).eval()
    rebuilt.load_state_dict(module.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), module(x))


@pytest.mark.parametrize('case', [dict(attention='sa'), dict(attention='pssa'),
                                  dict(attention='pssa', normalize='softmax')])
def test_every_parameter_receives_a_finite_nonzero_gradient(case):
    module = _make(stride=2, **case).train()
    module(_input()).square().mean().backward()
    for name, param in module.named_parameters():
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


@pytest.mark.parametrize('case', [dict(attention='sa'), dict(attention='pssa')])
def test_deploy_form_is_differentiable(case):
    module = _make(**case)
    module.switch_to_deploy()
    x = _input().requires_grad_()
    module(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize('case', [dict(), dict(stride=2), dict(dilation=2), dict(stride=2,
                                                                                 dilation=3)])
@pytest.mark.parametrize('attention', ['sa', 'pssa'])
@pytest.mark.parametrize('size', [(1, 1), (5, 3), (6, 13)])
def test_output_grid_equals_the_conv_branch_grid(case, attention, size):
    module = _make(attention=attention, **case)
    x = _input((1, 4) + size)
    with torch.no_grad():
        assert module(x).shape == module.conv(x).shape


def _input_gradient_at_center(module: nn.Module, size: int = 13) -> torch.Tensor:
    x = _input((1, 4, size, size)).requires_grad_()
    module(x)[0, :, size // 2, size // 2].sum().backward()
    return x.grad[0].abs().sum(0)  # H, W


def test_pssa_output_depends_only_on_the_shift_neighbourhood():
    grad = _input_gradient_at_center(_make(attention='pssa', shifts=(2, ), conv_norm=True))
    assert grad[6, 6] > 0 and grad[4, 4] > 0 and grad[6, 8] > 0  # centre, diagonal and side at L=2
    reach = torch.zeros_like(grad, dtype=torch.bool)
    reach[5:8, 5:8] = True  # the 3x3 conv
    for dy, dx in DIRECTIONS_8:
        reach[6 + 2 * dy, 6 + 2 * dx] = True
    assert grad[~reach].abs().max() == 0


def test_stacked_pssa_layers_propagate_relations_beyond_one_neighbourhood():
    torch.manual_seed(0)
    stack = nn.Sequential(_make(attention='pssa', out_channels=4, seed=1),
                          _make(attention='pssa', out_channels=4, seed=2))
    grad = _input_gradient_at_center(stack)
    assert grad[6, 4] > 0 and grad[8, 8] > 0  # two steps away
    assert grad[6, 3] == 0  # three steps away is out of reach of two layers


def test_sa_output_depends_on_every_pixel():
    grad = _input_gradient_at_center(_make(attention='sa'))
    assert (grad > 0).all()


def _attention_flops(module: XVolution, size: int) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(_input((1, 4, size, size)))
    return counter.get_total_flops()


def test_pssa_cost_is_linear_and_sa_cost_is_quadratic_in_the_pixels():
    def increments(module):  # cost = a * n (+ b * n^2) + constant, n = 64, 256, 1024 pixels
        flops = [_attention_flops(module, size) for size in (8, 16, 32)]
        return flops[1] - flops[0], flops[2] - flops[1]

    small, large = increments(_make(attention='pssa'))
    assert large == 4 * small > 0
    small, large = increments(_make(attention='sa'))
    # SA = linear projections + an n x n attention: four times the pixels, more than 4x the cost.
    assert large > 8 * small


def test_default_shift_length_follows_the_dilation_and_directions_set_the_offsets():
    assert _make(dilation=2).offsets == [(2 * dy, 2 * dx) for dy, dx in DIRECTIONS_8]
    assert len(_make(directions=4, shifts=(1, 3)).offsets) == 8
    assert len(_make(directions=8, shifts=(1, 3)).offsets) == 16


def test_four_directions_are_up_down_left_right_in_the_order_of_the_eight():
    # offset_weight[i] belongs to offsets[i]: the order is the checkpoint layout
    assert _make(directions=4).offsets == [(-1, 0), (1, 0), (0, -1), (0, 1)]
    assert _make(directions=4, shifts=(2, )).offsets == [(-2, 0), (2, 0), (0, -2), (0, 2)]
    assert _make(directions=8).offsets[:4] == _make(directions=4).offsets


def test_four_direction_pssa_reaches_the_axis_neighbours_and_not_the_diagonals():
    module = _make(attention='pssa', directions=4, shifts=(2, ), normalize='softmax')
    grad = _input_gradient_at_center(module)
    reach = torch.zeros_like(grad, dtype=torch.bool)
    reach[5:8, 5:8] = True  # the 3x3 conv
    for dy, dx in ((-2, 0), (2, 0), (0, -2), (0, 2)):
        assert grad[6 + dy, 6 + dx] > 0
        reach[6 + dy, 6 + dx] = True
    assert grad[~reach].abs().max() == 0  # (4, 4), (8, 8), ... : no diagonal at L=2


def test_zero_init_attention_starts_as_the_conv_branch():
    module = XVolution(4, 6, zero_init_attention=True).train()
    x = _input()
    expected = module.conv_norm(module.conv(x))
    torch.testing.assert_close(module(x), expected)


@pytest.mark.parametrize('attention', ['sa', 'pssa'])
@pytest.mark.parametrize('normalize', ['none', 'softmax'])
def test_bfloat16_autocast_stays_close_to_fp32(attention, normalize):
    module = _make(attention=attention, normalize=normalize)
    x = _input() * 4  # large activations: the products are quadratic in them
    with torch.no_grad():
        expected = module(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            actual = module(x)
    assert torch.isfinite(actual).all()
    assert (actual.float() - expected).abs().max() <= 0.05 * expected.abs().max()


def test_plain_conv_weights_load_into_the_conv_branch_and_new_weights_are_missing():
    module = XVolution(4, 6, attention='pssa', conv_norm=False)
    plain = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    result = module.load_state_dict(plain.state_dict(), strict=False)
    assert torch.equal(module.conv.weight, plain.weight)
    assert sorted(result.missing_keys) == sorted(
        k for k in module.state_dict()
        if not k.startswith('conv.') and not k.endswith('num_batches_tracked'))
    assert result.unexpected_keys == []


def test_own_checkpoint_round_trips_without_remapping():
    module = _make(attention='sa')
    fresh = XVolution(4, 6, attention='sa')
    result = fresh.load_state_dict(module.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(fresh.conv.weight, module.conv.weight)


@pytest.mark.parametrize('kwargs, named', [
    (dict(padding=0), ('padding', 0)),
    (dict(kernel_size=2, padding=0), ('kernel_size', 2)),
    (dict(attention='global'), ('attention', "'global'")),
    (dict(directions=6), ('directions', 6)),
    (dict(shifts=(0, )), ('shifts', (0, ))),
    (dict(product='dot'), ('product', "'dot'")),
    (dict(normalize='l1'), ('normalize', "'l1'")),
    (dict(stride_mode='max'), ('stride_mode', "'max'")),
    (dict(heads=3), ('in_channels', 4, 'heads', 3)),
    (dict(heads=0), ('heads', 0)),
    (dict(stride=0), ('stride', 0)),
    (dict(kernel_size=(3, 5)), ('kernel_size', (3, 5))),
    (dict(stride=(2, 2, 2)), ('stride', (2, 2, 2))),
    (dict(attention='sa', heads=2, qk_channels=5), ('qk_channels', 5, 'heads', 2)),
])
def test_invalid_arguments_name_the_bad_value(kwargs, named):
    with pytest.raises(ValueError, match=names(*named)):
        XVolution(4, 6, **kwargs)


def test_wrong_input_channels_name_the_expected_shape():
    with pytest.raises(ValueError, match=names('(B, 4, H, W)')):
        XVolution(4, 6)(torch.zeros(1, 5, 4, 4))


class _TaggedBatchNorm(nn.BatchNorm2d):
    """A BatchNorm type of the test's own: proves the factory, not a default, built a norm."""


@pytest.mark.parametrize('attention', ['pssa', 'sa'])
def test_norm_layer_options_reach_both_branch_norms(attention):
    import functools
    factory = functools.partial(_TaggedBatchNorm, eps=0.1, momentum=0.3)
    module = XVolution(4, 6, attention=attention, norm_layer=factory)
    for norm in (module.conv_norm, module.attention_norm):
        assert type(norm) is _TaggedBatchNorm
        assert (norm.eps, norm.momentum, norm.num_features) == (0.1, 0.3, 6)


@pytest.mark.parametrize('attention', ['pssa', 'sa'])
def test_branch_norms_update_their_statistics_with_the_given_momentum(attention):
    import functools
    module = XVolution(4, 6, attention=attention,
                       norm_layer=functools.partial(nn.BatchNorm2d, momentum=0.3)).train()
    x = _input()
    captured = {}
    module.project.register_forward_hook(lambda m, args, out: captured.update(attention=out))
    with torch.no_grad():
        conv_out = module.conv(x)
        module(x)
    attention_out = captured['attention']  # the attention branch before its norm
    # from running_mean = 0: one update is momentum * batch mean
    torch.testing.assert_close(module.conv_norm.running_mean, 0.3 * conv_out.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(module.attention_norm.running_mean,
                               0.3 * attention_out.mean(dim=(0, 2, 3)))


@pytest.mark.parametrize('attention', ['pssa', 'sa'])
def test_deploy_form_folds_each_branch_norm_with_its_own_eps(attention):
    import functools
    torch.manual_seed(0)
    # eps of the order of the variances: folding with any other eps shows in the output
    module = XVolution(4, 6, attention=attention,
                       norm_layer=functools.partial(nn.BatchNorm2d, eps=0.5))
    _randomise_norms(module)
    module.eval()
    x = _input()
    captured = {}
    hook = module.project.register_forward_hook(
        lambda m, args, out: captured.update(attention=out))
    with torch.no_grad():
        conv_expected = _bn(module.conv(x), module.conv_norm)
        module(x)
        hook.remove()  # the attention branch before its norm, from the training form
        expected = conv_expected + _bn(captured['attention'], module.attention_norm)
        torch.testing.assert_close(module(x), expected, rtol=1e-5, atol=1e-5)
        module.switch_to_deploy()
        torch.testing.assert_close(module(x), expected, rtol=1e-4, atol=1e-4)


def test_square_pair_arguments_build_the_same_layer_as_ints():
    # mmcv's build_conv_layer callers may pass (k, k) pairs, as to nn.Conv2d
    torch.manual_seed(0)
    pairs = XVolution(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=[2, 2], dilation=(2, 2))
    torch.manual_seed(0)
    ints = XVolution(4, 6, kernel_size=3, stride=2, padding=2, dilation=2)
    assert ((pairs.kernel_size, pairs.stride, pairs.padding, pairs.dilation, pairs.shifts)
            == (3, 2, 2, 2, (2, )))
    pairs.eval(), ints.eval()
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(pairs(x), ints(x), rtol=0, atol=0)


@pytest.mark.parametrize('attention, own', [
    ('sa', ['key.weight', 'query.weight']),  # no key bias: it would cancel in the softmax
    ('pssa', ['offset_weight']),
])
def test_state_dict_layout_of_the_training_form(attention, own):
    bn = ['bias', 'num_batches_tracked', 'running_mean', 'running_var', 'weight']
    expected = sorted([f'attention_norm.{name}' for name in bn] + ['conv.weight']
                      + [f'conv_norm.{name}' for name in bn] + ['project.weight'] + own)
    assert sorted(XVolution(4, 6, attention=attention).state_dict()) == expected


def test_constructor_options_are_attributes():
    pssa = XVolution(4, 6, directions=4, shifts=(1, 2))
    assert (pssa.directions, pssa.shifts) == (4, (1, 2))
    sa = XVolution(4, 6, attention='sa', heads=2, qk_channels=6)
    assert (sa.qk_channels, sa.query.out_channels, sa.key.out_channels) == (6, 6, 6)
    assert XVolution(4, 6, attention='sa').qk_channels == 4  # None: in_channels


def test_linear_pssa_runs_in_the_dtype_and_on_the_device_of_its_weights():
    module = _make(attention='pssa')
    x = _input()
    with torch.no_grad():
        expected = module(x).double()
        module.double()
        actual = module(x.double())
    assert actual.dtype == torch.float64
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    # the depthwise kernels are built where the offset weights live (meta stands in for a GPU;
    # private: a CPU kernel times meta weights still runs, so no output shows the device)
    kernels = module.to('meta')._neighbour_kernels()
    assert all(k.device.type == 'meta' and k.dtype == torch.float64 for k in kernels)


@pytest.mark.parametrize('which', ['conv_norm', 'attention_norm'])
def test_a_norm_that_cannot_fold_is_refused_and_nothing_changes(which):
    module = _make(attention='pssa')
    setattr(module, which, nn.GroupNorm(2, 6).eval())
    x = _input()
    state = {k: v.clone() for k, v in module.state_dict().items()}
    with torch.no_grad():
        before = module(x)
        with pytest.raises(TypeError, match=names('GroupNorm')):
            module.switch_to_deploy()
        after = module(x)
    assert not module.deploy and isinstance(getattr(module, which), nn.GroupNorm)
    assert state.keys() == module.state_dict().keys()
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in state.items())
    assert torch.equal(before, after)


def test_loading_a_plain_conv_logs_the_new_weights_of_the_layer(caplog):
    import logging
    module = XVolution(4, 6, attention='sa', conv_norm=False)
    with caplog.at_level(logging.INFO, logger='mmattn.layers.xvolution'):
        module.load_state_dict(nn.Conv2d(4, 6, 3, padding=1).state_dict(), strict=False)
    (record, ) = caplog.records
    new = record.getMessage().split('new weights: ')[1].split(', ')
    assert 'weight/bias' in record.getMessage()
    assert sorted(new) == sorted(k for k in module.state_dict() if not k.startswith('conv.'))
