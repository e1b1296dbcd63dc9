"""Write the deploy (re-parameterised) checkpoint of a trained model, as mmpretrain's tool does.

    .venv/bin/python tools/model_converters/reparameterize_model.py CONFIG CHECKPOINT OUT

Loads CHECKPOINT into CONFIG's model, switches every X-volution, External Attention and LeViT
module to its deploy form and saves OUT (``meta['deploy'] = True``). Evaluate it with
``tools/test.py CONFIG OUT --deploy``, which builds the model with ``deploy=True``
(:func:`mmattn.apis.deploy_config`) and loads OUT strictly.
"""
import argparse

from mmattn.apis import reparameterize_checkpoint


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file of the trained model')
    parser.add_argument('checkpoint', help='training checkpoint')
    parser.add_argument('out', help='where the deploy checkpoint goes')
    args = parser.parse_args(argv)
    count = reparameterize_checkpoint(args.config, args.checkpoint, args.out)
    print(f'[reparameterize] {count} modules in their deploy form -> {args.out}')


if __name__ == '__main__':
    main()
