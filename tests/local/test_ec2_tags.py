"""EC2 resources read their own tags by lookup: the same answer, at a cost that does not
grow with every tag ever written."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.local import LocalAws

pytestmark = pytest.mark.local


def _tagged_group(ec2: Any, vpc_id: str, name: str, session: str) -> str:
    return str(
        ec2.create_security_group(
            GroupName=name,
            Description=name,
            VpcId=vpc_id,
            TagSpecifications=[
                {
                    "ResourceType": "security-group",
                    "Tags": [{"Key": "session", "Value": session}, {"Key": "owner", "Value": "t"}],
                }
            ],
        )["GroupId"]
    )


def test_a_resource_reads_the_tags_moto_would_have_found() -> None:
    from moto.ec2.models import ec2_backends

    with LocalAws(region="us-east-1") as aws:
        ec2 = aws.client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        group_id = _tagged_group(ec2, vpc_id, "reader", "s-1")
        _tagged_group(ec2, vpc_id, "other", "s-2")
        backend = ec2_backends[aws.account_id]["us-east-1"]
        group = backend.get_security_group_from_id(group_id)

        # WHEN the group reads its tags
        read = group.get_tags()

        # THEN the answer is moto's own scan, entry for entry
        assert read == backend.describe_tags(filters={"resource-id": [group_id]})
        assert {(tag["key"], tag["value"]) for tag in read} == {("session", "s-1"), ("owner", "t")}
        assert {tag["resource_type"] for tag in read} == {"security-group"}
        # and an untagged resource reads none without gaining an entry in the store
        untagged = ec2.create_security_group(GroupName="bare", Description="b", VpcId=vpc_id)
        assert backend.get_security_group_from_id(untagged["GroupId"]).get_tags() == []
        assert untagged["GroupId"] not in backend.tags


def test_filtering_by_tag_never_scans_every_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.ec2.models.tags import TagBackend

    with LocalAws(region="us-east-1") as aws:
        ec2 = aws.client("ec2")
        vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        wanted = _tagged_group(ec2, vpc_id, "wanted", "s-wanted")
        for index in range(40):
            group_id = _tagged_group(ec2, vpc_id, f"g{index}", f"s-{index}")
            ec2.delete_security_group(GroupId=group_id)  # its tags stay in moto's store

        # GIVEN a full scan of the tag store would fail
        def scan(*_: Any, **__: Any) -> Any:
            raise AssertionError("a resource's tags were looked up by scanning every tag")

        monkeypatch.setattr(TagBackend, "describe_tags", scan)

        # THEN filtering groups by tag still finds the one asked for
        found = ec2.describe_security_groups(
            Filters=[{"Name": "tag:session", "Values": ["s-wanted"]}]
        )["SecurityGroups"]
        assert [group["GroupId"] for group in found] == [wanted]
        assert {"Key": "session", "Value": "s-wanted"} in found[0]["Tags"]
