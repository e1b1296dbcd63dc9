"""What LambdaResNet and EAResNet share: block choice and the training mode of their new norms."""
import pytest
from torch import nn

from mmattn.models.backbones.utils import chosen_blocks, train_new_norms


@pytest.mark.parametrize('indices, expected', [
    (None, [0, 1, 2]), ((-3, ), [0]), ((-1, 0), [0, 2]), ((2, -1, 1), [1, 2])])
def test_chosen_blocks_are_sorted_distinct_and_negative_ones_count_from_the_end(indices,
                                                                                expected):
    assert chosen_blocks('Owner: blocks', 'layer1', 3, indices) == expected


@pytest.mark.parametrize('index', [3, -4])
def test_a_block_index_outside_the_stage_is_an_error_naming_it(index):
    with pytest.raises(ValueError, match=f'Owner: blocks index {index} is out of range for '
                                         'layer2, which has 3 blocks'):
        chosen_blocks('Owner: blocks', 'layer2', 3, (0, index))


def test_train_new_norms_trains_only_the_batchnorms_of_layers_after_the_frozen_stages():
    def layer():
        return nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2), nn.Dropout(0.5)).eval()

    new_layers = {'layer2.ea0': layer(), 'layer3.ea0': layer()}
    train_new_norms(new_layers, {'layer2.ea0': 2, 'layer3.ea0': 3}, frozen_stages=2)
    assert not any(m.training for m in new_layers['layer2.ea0'].modules())  # frozen stage
    trained = new_layers['layer3.ea0']
    assert trained[1].training  # its BatchNorm learns statistics again
    assert not trained.training and not trained[2].training  # nothing else changes mode
