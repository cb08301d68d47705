"""EC2 tags found by their resource, not by scanning every tag ever written.

moto 5.2.5 answers "the tags of this resource" by running ``describe_tags`` with a
``resource-id`` filter: one regular-expression match per tag of every EC2 resource ever
tagged, and the tags of deleted resources are never dropped. Filtering security groups
or their rules by tag then costs (resources listed) x (tags ever written): the local AWS
gets slower with every session until a Lambda invocation outlives its state's timeout.
Here a resource's tags are one dictionary lookup; the answer is the same list.
"""

from __future__ import annotations

from typing import Any

from bastion.local.active import current
from bastion.local.patching import replace_attribute


def _tags_by_lookup(original: Any) -> Any:
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    def get_tags(self: Any) -> list[dict[str, str]]:
        if current() is None:
            return original(self)  # type: ignore[no-any-return]
        resource_id = self.id
        if not resource_id:
            return []
        # .get: the store is a defaultdict, and a lookup must not add an entry to it.
        tags = dict(self.ec2_backend.tags.get(resource_id) or {})
        resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
        return [
            {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
            for key, value in tags.items()
        ]

    return get_tags


def install() -> None:
    """Patch how moto's EC2 resources read their own tags."""
    from moto.ec2.models.core import TaggedEC2Resource

    replace_attribute(TaggedEC2Resource, "get_tags", _tags_by_lookup)
