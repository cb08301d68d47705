"""``python -m bastion.cli``: the same as the ``bastion`` console script."""

from bastion.cli import main

main()
