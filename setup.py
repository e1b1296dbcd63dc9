from setuptools import find_packages, setup


def _version() -> str:
    scope: dict = {}
    with open('mmattn/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


def _requirements(path: str) -> list:
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name='mmattn',
    version=_version(),
    description='Attention operators (Lambda layers, External Attention, X-volution, LeViT) '
    'for dense prediction in OpenMMLab 2.x',
    long_description=open('README.md').read() if __import__('os').path.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmattn', 'mmattn.*']),
    python_requires='>=3.9',
    install_requires=_requirements('requirements/runtime.txt'),
    extras_require={
        # mmcv 2.1.0 (with its C++ ops) is not listed: no wheel exists for recent PyTorch;
        # tools/install.sh builds it before installing this extra.
        'openmmlab': _requirements('requirements/openmmlab.txt'),
        'imagenet': _requirements('requirements/imagenet.txt'),  # + a matching torchvision
        'tests': _requirements('requirements/tests.txt'),
        'optional': _requirements('requirements/optional.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
