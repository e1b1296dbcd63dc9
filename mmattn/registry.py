"""The ``mmattn`` registry scope.

``MODELS`` is a child of mmengine's root ``MODELS``, so ``type='mmattn.LambdaResNet'`` builds from
mmdet (``default_scope='mmdet'``) and mmseg (``default_scope='mmseg'``) configs, the same way
``mmpretrain.ConvNeXt`` does.

Plain names (``type='LambdaResNet'``) must work too once ``custom_imports=dict(imports=['mmattn'])``
has run. mmengine resolves a plain name in the current scope and then in its ancestors, never in
sibling scopes, so :func:`register_model` also registers every class in the root registry, the one
common ancestor of mmdet, mmseg and mmcv's ``build_conv_layer`` / ``build_plugin_layer``.
"""
from typing import Callable, Optional, Type

from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=ROOT_MODELS, scope='mmattn', locations=['mmattn.models'])


def register_model(name: Optional[str] = None) -> Callable[[Type], Type]:
    """Class decorator: register in the ``mmattn`` scope and, under the same name, in the root.

    Registering one name twice is an error in either registry (a clash with another package's
    class must not be resolved silently).
    """

    def _register(cls: Type) -> Type:
        MODELS.register_module(name=name, module=cls)
        ROOT_MODELS.register_module(name=name, module=cls)
        return cls

    return _register
