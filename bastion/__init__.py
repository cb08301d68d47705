"""fargate-bastion's client side: the ``bastion`` command and the embedded local AWS."""
