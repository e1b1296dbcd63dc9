"""Checkpoint files the converters read and write (mmattn/models/converters/checkpoint.py)."""
import argparse
import pickle

import pytest
import torch

from mmattn.models.converters.checkpoint import load_state_dict, save_state_dict, strip_prefix

_LOCATION = 'mmattn_test_absent_device'
_TAGGED = set()  # data pointers of the storages saved as if they lived on _LOCATION


def _tag(storage):
    return _LOCATION if storage.data_ptr() in _TAGGED else None


# Storages are restored by their saved location tag; no deserializer knows this one, so a
# file that holds it loads only when mapped to the CPU (as a CUDA checkpoint on a CPU machine).
torch.serialization.register_package(0, _tag, lambda storage, location: None)


def _weights():
    return {'conv.weight': torch.arange(6.).view(2, 3), 'conv.bias': torch.ones(2)}


def test_a_checkpoint_saved_on_another_device_loads_onto_the_cpu(tmp_path):
    weights = _weights()
    path = str(tmp_path / 'elsewhere.pth')
    _TAGGED.update(w.untyped_storage().data_ptr() for w in weights.values())
    try:
        torch.save({'model': weights}, path)
    finally:
        _TAGGED.clear()
    with pytest.raises(RuntimeError, match=_LOCATION):  # the file really is tagged elsewhere
        torch.load(path, weights_only=True)
    loaded = load_state_dict(path)
    assert all(value.device.type == 'cpu' for value in loaded.values())
    assert all(torch.equal(loaded[key], value) for key, value in weights.items())


@pytest.mark.parametrize('wrapper', ['state_dict', 'model', 'net', 'module'])
def test_the_state_dict_is_unwrapped_from_each_known_container(tmp_path, wrapper):
    path = str(tmp_path / 'wrapped.pth')
    torch.save({wrapper: _weights(), 'epoch': 3}, path)
    assert sorted(load_state_dict(path)) == ['conv.bias', 'conv.weight']


def test_safetensors_files_are_read(tmp_path):
    from safetensors.torch import save_file
    path = str(tmp_path / 'weights.safetensors')
    save_file(_weights(), path)
    loaded = load_state_dict(path)
    assert sorted(loaded) == ['conv.bias', 'conv.weight']
    assert torch.equal(loaded['conv.weight'], _weights()['conv.weight'])


def _pickled_checkpoint(tmp_path) -> str:
    """A checkpoint with a pickled object besides the tensors (as training scripts write)."""
    path = str(tmp_path / 'with_args.pth')
    torch.save({'state_dict': _weights(), 'args': argparse.Namespace(lr=0.1)}, path)
    return path


def test_pickled_objects_are_refused_by_default_with_the_option_that_reads_them(tmp_path):
    path = _pickled_checkpoint(tmp_path)
    with pytest.raises(RuntimeError, match='with_args.pth holds more than tensors.*'
                       '--trust-checkpoint'):
        load_state_dict(path)


def test_trust_reads_a_checkpoint_with_pickled_objects(tmp_path):
    loaded = load_state_dict(_pickled_checkpoint(tmp_path), trust=True)
    assert sorted(loaded) == ['conv.bias', 'conv.weight']


def test_trust_lets_the_error_of_an_unreadable_file_through_unchanged(tmp_path):
    path = tmp_path / 'broken.pth'
    path.write_bytes(b'not a checkpoint')
    with pytest.raises(pickle.UnpicklingError, match='invalid load key') as error:
        load_state_dict(str(path), trust=True)
    assert 'trust-checkpoint' not in str(error.value)


def test_strip_prefix_removes_it_only_where_present():
    state = {'backbone.a': 1, 'head.b': 2, 'x.backbone.c': 3}
    assert strip_prefix(state, 'backbone.') == {'a': 1, 'head.b': 2, 'x.backbone.c': 3}


def test_save_state_dict_writes_what_load_state_dict_reads_with_its_meta(tmp_path):
    path = str(tmp_path / 'out.pth')
    save_state_dict(_weights(), path, dict(source_format='timm'))
    saved = torch.load(path, weights_only=True)
    assert saved['meta'] == {'source_format': 'timm'}
    loaded = load_state_dict(path)
    assert all(torch.equal(loaded[key], value) for key, value in _weights().items())


def test_mismatched_keys_names_every_missing_unexpected_and_misshaped_key():
    from mmattn.models.converters import checkpoint
    own = {'a': torch.zeros(2), 'b': torch.zeros(3), 'c': torch.zeros(4), 'skip': torch.zeros(1)}
    state = {'a': torch.zeros(2), 'c': torch.zeros(5), 'x': torch.zeros(1), 'head': torch.zeros(1)}
    problems = checkpoint.mismatched_keys(state, own, may_miss=lambda key: key == 'skip',
                                          may_add=lambda key: key == 'head')
    assert len(problems) == 3
    missing, unexpected, shape = problems
    assert 'missing' in missing and 'b' in missing.split(': ', 1)[1].split(', ')
    assert 'skip' not in missing
    assert 'unexpected' in unexpected and unexpected.endswith(': x')
    assert 'c' in shape and '(5,)' in shape and '(4,)' in shape
    assert checkpoint.mismatched_keys(own, own) == []
