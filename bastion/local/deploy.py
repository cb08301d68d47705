"""Deploy ``template.yaml`` into the local AWS, the way CloudFormation would.

The SAM template is translated to plain CloudFormation offline (aws-sam-translator),
then every resource is created through the public boto3 APIs of whatever moto mock
is active, in dependency order, with ``Ref``/``GetAtt``/``Sub``/... resolved here.
moto's own CloudFormation (5.2.5) is not used: it puts state machines in a backend the
Step Functions API does not read, and ignores ``DefinitionSubstitutions`` and most
TaskDefinition properties.

What the local AWS cannot reproduce is never skipped silently: a resource type or
intrinsic the deployer does not know raises :class:`DeployError` naming it, and the
few deliberate differences (another account's Lambda layer, AWS-managed policies
moto was not asked to load) are listed in :attr:`DeployedStack.local_gaps`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import yaml
from botocore.exceptions import ClientError, ParamValidationError

__all__ = [
    "DeployError",
    "DeployedStack",
    "ParameterError",
    "UnsupportedResourceError",
    "deploy_stack",
    "load_template",
]

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
DEFAULT_STACK_NAME = "fargate-bastion"
_POLICY_VERSION = "2012-10-17"
#: What a translated Lambda function ships locally: the local AWS runs the function's
#: ``Handler`` in-process from the working tree, so the package itself is never read.
_INLINE_CODE = "# The local AWS runs this function's Handler in-process.\n"


class DeployError(RuntimeError):
    """The template cannot be deployed into the local AWS."""


class ParameterError(DeployError):
    """A parameter value is missing, unknown or violates the template's constraints."""


class UnsupportedResourceError(DeployError):
    """The template holds resource types the local deployer cannot create."""

    def __init__(self, unsupported: Mapping[str, str]) -> None:
        self.resource_types = tuple(sorted(set(unsupported.values())))
        listing = ", ".join(f"{lid} ({kind})" for lid, kind in sorted(unsupported.items()))
        super().__init__(
            "the local AWS cannot create resource type(s) "
            f"{', '.join(self.resource_types)}: {listing}"
        )


@dataclass(frozen=True)
class DeployedStack:
    """A stack deployed into the local AWS.

    ``resources`` maps each logical id to its physical id (what ``Ref`` returns:
    a name, or an ARN for state machines and task definitions); ``attributes`` holds
    each resource's ``GetAtt`` values; ``parameters`` the effective parameter values
    (defaults included, lists comma-joined).
    """

    stack_name: str
    region: str
    parameters: dict[str, str]
    resources: dict[str, str]
    resource_types: dict[str, str]
    attributes: dict[str, dict[str, str]]
    outputs: dict[str, str]
    local_gaps: tuple[str, ...] = field(default=())

    def _physical(self, logical_id: str, resource_type: str) -> str:
        actual = self.resource_types.get(logical_id)
        if actual != resource_type:
            known = sorted(k for k, v in self.resource_types.items() if v == resource_type)
            raise KeyError(
                f"{logical_id!r} is not a {resource_type} of stack {self.stack_name!r} "
                f"(it is {actual or 'not in the stack'}); these are: {', '.join(known)}"
            )
        return self.resources[logical_id]

    def state_machine_arn(self, logical_id: str) -> str:
        """The ARN of the state machine ``logical_id`` (for example ``SessionStateMachine``)."""
        return self._physical(logical_id, "AWS::StepFunctions::StateMachine")

    def function_name(self, logical_id: str) -> str:
        """The name of the Lambda function ``logical_id`` (for example ``EndSessionFunction``)."""
        return self._physical(logical_id, "AWS::Lambda::Function")

    def function_arn(self, logical_id: str) -> str:
        """The ARN of the Lambda function ``logical_id``."""
        self.function_name(logical_id)
        return self.attributes[logical_id]["Arn"]


# --------------------------------------------------------------------------- sessions


@cache
def _data_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def _session(region: str) -> boto3.Session:
    """A fresh session (credentials resolved anew) sharing one loader of the service
    models: reading those JSON files again costs about 0.3 s per deployment."""
    core = botocore.session.Session()
    core.register_component("data_loader", _data_loader())
    return boto3.Session(botocore_session=core, region_name=region)


# --------------------------------------------------------------------------- loading


# libyaml's loader parses the template about ten times faster than the pure-Python one.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[misc]
    """YAML with CloudFormation's short-form tags, kept as their long-form dicts."""


def _construct_intrinsic(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # "Resource.Attribute.With.Dots": only the first dot separates the resource.
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)
# CloudFormation reads dates such as AWSTemplateFormatVersion as plain strings.
_CfnLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),
)


def load_template(path: Path) -> dict[str, Any]:
    """Read a CloudFormation/SAM template (YAML or JSON) with short-form tags as dicts."""
    try:
        # _CfnLoader is a SafeLoader: it constructs no Python objects beyond plain data.
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506
    except (OSError, yaml.YAMLError) as error:
        raise DeployError(f"cannot read template {path}: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise DeployError(f"{path} is not a CloudFormation template (no Resources)")
    return document


def _is_local_uri(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


def _inline_local_artifacts(template: dict[str, Any], base_dir: Path) -> None:
    """Replace local ``CodeUri``/``DefinitionUri`` (which the translator rejects as not
    S3) with inline code and the definition read from disk, as ``sam package`` would
    upload them."""
    globals_function = template.get("Globals", {}).get("Function", {})
    global_code = globals_function.get("CodeUri")
    for logical_id, resource in template["Resources"].items():
        props = resource.setdefault("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            code = props.get("CodeUri", global_code)
            if "InlineCode" in props or props.get("PackageType") == "Image":
                continue
            if code is None or _is_local_uri(code):
                if code is not None and not (base_dir / code).exists():
                    raise DeployError(f"{logical_id}: CodeUri {code!r} does not exist")
                props.pop("CodeUri", None)
                props["InlineCode"] = _INLINE_CODE
        elif resource.get("Type") == "AWS::Serverless::StateMachine":
            uri = props.get("DefinitionUri")
            if _is_local_uri(uri):
                file = base_dir / uri
                try:
                    text = file.read_text(encoding="utf-8")
                except OSError as error:
                    raise DeployError(f"{logical_id}: DefinitionUri {uri!r}: {error}") from error
                loaded = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
                del props["DefinitionUri"]
                props["Definition"] = loaded
    if _is_local_uri(global_code):
        del globals_function["CodeUri"]


def _translate(
    template: dict[str, Any], region: str, parameter_values: Mapping[str, Any]
) -> dict[str, Any]:
    # Imported here: the translator costs about half a second, and only deploys need it.
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    translator = Translator(None, Parser(), boto_session=_session(region))
    # Offline there is no feature-toggle config: its "not available" warnings say nothing.
    logging.getLogger("samtranslator.feature_toggle").setLevel(logging.ERROR)
    try:
        return translator.translate(  # type: ignore[no-any-return]
            template,
            parameter_values=dict(parameter_values),
            # Known managed-policy names come from the map bundled with the translator.
            get_managed_policy_map=lambda: {},
        )
    except InvalidDocumentException as error:
        causes = "; ".join(cause.message for cause in error.causes)
        raise DeployError(f"SAM translation failed: {causes}") from error
    finally:
        # The translator's metrics go to a no-op publisher offline; publishing them
        # keeps it from warning about "unpublished metrics" when it is collected.
        translator.metrics.publish()


# --------------------------------------------------------------------------- parameters

_RESOURCE_ID_PATTERNS = {
    "AWS::EC2::Subnet::Id": r"subnet-[0-9a-f]{8,17}",
    "AWS::EC2::SecurityGroup::Id": r"sg-[0-9a-f]{8,17}",
    "AWS::EC2::VPC::Id": r"vpc-[0-9a-f]{8,17}",
    "AWS::EC2::Image::Id": r"ami-[0-9a-f]{8,17}",
    "AWS::EC2::Instance::Id": r"i-[0-9a-f]{8,17}",
    "AWS::EC2::Volume::Id": r"vol-[0-9a-f]{8,17}",
}
_SSM_TYPE = re.compile(r"AWS::SSM::Parameter::Value<(.+)>")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_one(declared: Mapping[str, Any], item_type: str, value: str) -> str | None:
    """The constraint ``value`` violates as one item of ``item_type``, or None."""
    if item_type == "Number":
        if not _is_number(value):
            return f"must be a number, got {value!r}"
        number = float(value)
        allowed = declared.get("AllowedValues")
        if allowed is not None and number not in {float(v) for v in allowed}:
            return f"must be one of {', '.join(str(v) for v in allowed)}, got {value!r}"
        if "MinValue" in declared and number < float(declared["MinValue"]):
            return f"must be at least {declared['MinValue']}, got {value!r}"
        if "MaxValue" in declared and number > float(declared["MaxValue"]):
            return f"must be at most {declared['MaxValue']}, got {value!r}"
        return None
    pattern = _RESOURCE_ID_PATTERNS.get(item_type)
    if pattern and not re.fullmatch(pattern, value):
        return f"must be an {item_type}, got {value!r}"
    if item_type.startswith("AWS::") and not value:
        return f"must name an {item_type}"
    allowed = declared.get("AllowedValues")
    if allowed is not None and value not in {str(v) for v in allowed}:
        return f"must be one of {', '.join(str(v) for v in allowed)}, got {value!r}"
    if "AllowedPattern" in declared and not re.fullmatch(str(declared["AllowedPattern"]), value):
        return f"must match pattern {declared['AllowedPattern']}, got {value!r}"
    if "MinLength" in declared and len(value) < int(declared["MinLength"]):
        return f"must be at least {declared['MinLength']} characters long"
    if "MaxLength" in declared and len(value) > int(declared["MaxLength"]):
        return f"must be at most {declared['MaxLength']} characters long"
    return None


def _resolve_parameters(
    declared: Mapping[str, Mapping[str, Any]],
    given: Mapping[str, str],
    ssm_value: Callable[[str], str],
) -> tuple[dict[str, str], dict[str, str | list[str]]]:
    """Validate ``given`` against the declarations the way CloudFormation does.

    Returns the effective values as given (defaults filled in) and the values ``Ref``
    yields (lists for list types, SSM-typed parameters looked up).
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ParameterError(f"Parameters {unknown} do not exist in the template")
    effective: dict[str, str] = {}
    ref_values: dict[str, str | list[str]] = {}
    for name, spec in declared.items():
        if name in given:
            raw = given[name]
            if not isinstance(raw, str):
                raise ParameterError(
                    f"Parameter '{name}' must be given as a string, got {type(raw).__name__}"
                )
        elif "Default" in spec:
            raw = str(spec["Default"])
        else:
            raise ParameterError(f"Parameter '{name}' must have a value (it has no default)")
        kind = str(spec.get("Type", "String"))
        ssm = _SSM_TYPE.fullmatch(kind)
        value = ssm_value(raw) if ssm else raw
        if ssm:
            kind = ssm.group(1)
        is_list = kind.startswith("List<") or kind == "CommaDelimitedList"
        item_type = kind[5:-1] if kind.startswith("List<") else kind
        items = [item.strip() for item in value.split(",")] if is_list else [value]
        if kind.startswith("List<AWS::") and items == [""]:
            items = []
            problem: str | None = f"must name at least one {item_type}"
        else:
            problem = next((p for item in items if (p := _check_one(spec, item_type, item))), None)
        if problem:
            if spec.get("NoEcho") in (True, "true", "True"):
                problem = problem.split(", got ")[0]
            hint = spec.get("ConstraintDescription")
            raise ParameterError(f"Parameter '{name}' {problem}" + (f" ({hint})" if hint else ""))
        effective[name] = raw
        ref_values[name] = items if is_list else value
    return effective, ref_values


# --------------------------------------------------------------------------- resolving


class _NoValue:
    """``AWS::NoValue``: removes the property or list item it stands for."""


_NO_VALUE = _NoValue()
_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


@dataclass
class _Created:
    physical_id: str
    attributes: dict[str, str]


def _text(value: Any) -> str:
    """A scalar as CloudFormation turns it into a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise DeployError(f"expected a string, got {value!r}")


def _partition(region: str) -> tuple[str, str]:
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


def _physical_name(stack_name: str, logical_id: str, max_length: int) -> str:
    """CloudFormation's ``<stack>-<LogicalId>-<SUFFIX>`` name, deterministic here so
    that test failures are reproducible."""
    digest = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).digest()
    suffix = base64.b32encode(digest).decode()[:12]
    stem = f"{stack_name}-{logical_id}"[: max_length - len(suffix) - 1]
    return f"{stem}-{suffix}"


class _Deployment:
    """One deployment: the translated template, its values and the created resources."""

    def __init__(
        self,
        template: dict[str, Any],
        ref_values: Mapping[str, str | list[str]],
        session: boto3.Session,
        stack_name: str,
    ) -> None:
        self.template = template
        self.session = session
        self.region = str(session.region_name)
        self.stack_name = stack_name
        self._clients: dict[str, Any] = {}
        self.account_id = str(self.client("sts").get_caller_identity()["Account"])
        self.partition, url_suffix = _partition(self.region)
        stack_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.account_id}/{stack_name}")
        self.values: dict[str, Any] = {
            **ref_values,
            "AWS::AccountId": self.account_id,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": url_suffix,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:{self.partition}:cloudformation:{self.region}:"
            f"{self.account_id}:stack/{stack_name}/{stack_uuid}",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        self.resources: dict[str, dict[str, Any]] = template["Resources"]
        self.created: dict[str, _Created] = {}
        #: What differs from AWS, each with the resources it concerns.
        self.gaps: dict[str, list[str]] = {}
        self._conditions: dict[str, bool] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"

    def gap(self, difference: str, logical_id: str) -> None:
        """Record a deliberate difference from AWS (reported, never silent)."""
        self.gaps.setdefault(difference, []).append(logical_id)

    def physical_name(self, logical_id: str, max_length: int) -> str:
        return _physical_name(self.stack_name, logical_id, max_length)

    # ------------------------------------------------------------ conditions

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            declared = self.template.get("Conditions", {})
            if name not in declared:
                raise DeployError(f"condition {name!r} is not declared")
            self._conditions[name] = self._evaluate(declared[name])
        return self._conditions[name]

    def _evaluate(self, expression: Any) -> bool:
        if not isinstance(expression, dict) or len(expression) != 1:
            raise DeployError(f"not a condition: {expression!r}")
        ((function, args),) = expression.items()
        if function == "Condition":
            return self.condition(args)
        if function == "Fn::Equals":
            left, right = (_text(self.resolve(arg)) for arg in args)
            return left == right
        if function == "Fn::And":
            return all(self._evaluate(arg) for arg in args)
        if function == "Fn::Or":
            return any(self._evaluate(arg) for arg in args)
        if function == "Fn::Not":
            return not self._evaluate(args[0])
        raise DeployError(f"{function} is not a condition function")

    def active(self, logical_id: str) -> bool:
        name = self.resources[logical_id].get("Condition")
        return name is None or self.condition(name)

    # ------------------------------------------------------------ dependencies

    def dependencies(self, logical_id: str) -> set[str]:
        """The resources ``logical_id`` needs first: its references and DependsOn."""
        resource = self.resources[logical_id]
        found: set[str] = set()
        depends_on = resource.get("DependsOn", [])
        found.update([depends_on] if isinstance(depends_on, str) else depends_on)
        self._collect(resource.get("Properties", {}), found)
        unknown = sorted(found - set(self.resources))
        if unknown:
            raise DeployError(f"{logical_id} refers to unknown resource(s) {unknown}")
        return found

    def _collect(self, value: Any, found: set[str], shadowed: frozenset[str] = frozenset()) -> None:
        if isinstance(value, list):
            for item in value:
                self._collect(item, found, shadowed)
            return
        if not isinstance(value, dict):
            return
        if len(value) == 1:
            ((key, args),) = value.items()
            if key == "Ref":
                if isinstance(args, str) and args not in self.values:
                    found.add(args)
                return
            if key == "Fn::GetAtt":
                target = args.split(".", 1)[0] if isinstance(args, str) else args[0]
                found.add(target)
                return
            if key == "Fn::If":
                branch = args[1] if self.condition(args[0]) else args[2]
                self._collect(branch, found, shadowed)
                return
            if key == "Fn::Sub":
                text, variables = (args, {}) if isinstance(args, str) else args
                self._collect(variables, found, shadowed)
                local = shadowed | set(variables)
                for bang, name in _SUB_VARIABLE.findall(text):
                    head = name.split(".", 1)[0]
                    if not bang and name not in local and name not in self.values:
                        found.add(head)
                return
        for item in value.values():
            self._collect(item, found, shadowed)

    def order(self) -> list[str]:
        """Active resources in an order where each comes after what it needs."""
        active = [lid for lid in self.resources if self.active(lid)]
        needs = {lid: self.dependencies(lid) for lid in active}
        for lid, deps in needs.items():
            inactive = sorted(d for d in deps if d not in needs)
            if inactive:
                raise DeployError(f"{lid} refers to {inactive}, whose Condition is false")
        ordered: list[str] = []
        done: set[str] = set()
        while len(ordered) < len(active):
            ready = [lid for lid in active if lid not in done and needs[lid] <= done]
            if not ready:
                stuck = sorted(lid for lid in active if lid not in done)
                raise DeployError(f"circular dependency between resources {stuck}")
            ordered.extend(ready)
            done.update(ready)
        return ordered

    # ------------------------------------------------------------ intrinsics

    def ref(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        if name in self.created:
            return self.created[name].physical_id
        raise DeployError(f"Ref to {name!r}: no such parameter, pseudo parameter or resource")

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.created:
            raise DeployError(f"GetAtt {logical_id}.{attribute}: no such resource")
        attributes = self.created[logical_id].attributes
        if attribute not in attributes:
            kind = self.resources[logical_id]["Type"]
            raise DeployError(
                f"GetAtt {logical_id}.{attribute}: the local AWS knows only "
                f"{sorted(attributes)} of a {kind}"
            )
        return attributes[attribute]

    def _sub(self, args: Any) -> str:
        text, variables = (args, {}) if isinstance(args, str) else args
        resolved = {key: _text(self.resolve(val)) for key, val in variables.items()}

        def replace(match: re.Match[str]) -> str:
            bang, name = match.groups()
            if bang:
                return "${" + name + "}"
            if name in resolved:
                return resolved[name]
            if "." in name and name not in self.values:
                return self.get_att(*name.split(".", 1))
            return _text(self.ref(name))

        return _SUB_VARIABLE.sub(replace, _text(text))

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function evaluated."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, args),) = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, args)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _intrinsic(self, function: str, args: Any) -> Any:
        if function == "Ref":
            return self.ref(args)
        if function == "Fn::GetAtt":
            logical_id, attribute = args.split(".", 1) if isinstance(args, str) else args
            return self.get_att(logical_id, _text(self.resolve(attribute)))
        if function == "Fn::Sub":
            return self._sub(args)
        if function == "Fn::If":
            return self.resolve(args[1] if self.condition(args[0]) else args[2])
        if function == "Fn::Join":
            delimiter, items = args
            resolved = self.resolve(items)
            if not isinstance(resolved, list):
                raise DeployError(f"Fn::Join needs a list, got {resolved!r}")
            return _text(delimiter).join(_text(item) for item in resolved)
        if function == "Fn::Select":
            index, items = (self.resolve(arg) for arg in args)
            return items[int(index)]
        if function == "Fn::Split":
            delimiter, text = (_text(self.resolve(arg)) for arg in args)
            return text.split(delimiter)
        if function == "Fn::FindInMap":
            name, top, second = (_text(self.resolve(arg)) for arg in args)
            try:
                return self.template["Mappings"][name][top][second]
            except KeyError as error:
                raise DeployError(f"Fn::FindInMap {name}/{top}/{second}: no {error}") from None
        if function == "Fn::Base64":
            return base64.b64encode(_text(self.resolve(args)).encode()).decode()
        if function == "Fn::GetAZs":
            zones = self.client("ec2").describe_availability_zones()["AvailabilityZones"]
            return [zone["ZoneName"] for zone in zones]
        raise DeployError(f"intrinsic function {function} is not supported by the local deployer")

    # ------------------------------------------------------------ creating

    def deploy(self) -> None:
        unsupported = {
            lid: res.get("Type", "?")
            for lid, res in self.resources.items()
            if res.get("Type") not in _CREATORS and self.active(lid)
        }
        if unsupported:
            raise UnsupportedResourceError(unsupported)
        for logical_id in self.order():
            resource = self.resources[logical_id]
            properties = self.resolve(resource.get("Properties", {}))
            kind = resource["Type"]
            try:
                self.created[logical_id] = _CREATORS[kind](self, logical_id, properties)
            except (ClientError, ParamValidationError) as error:
                raise DeployError(f"{logical_id} ({kind}): {error}") from error
            except KeyError as error:
                raise DeployError(f"{logical_id} ({kind}): no property {error}") from error

    def outputs(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for name, output in self.template.get("Outputs", {}).items():
            if "Condition" in output and not self.condition(output["Condition"]):
                continue
            value = self.resolve(output["Value"])
            result[name] = ",".join(value) if isinstance(value, list) else _text(value)
        return result


# --------------------------------------------------------------------------- API shapes


def _api_params(
    client: Any, operation: str, properties: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """CloudFormation properties as the API operation's input.

    CloudFormation spells most properties as the API does, only PascalCase: match each
    key to the operation's input shape case-insensitively (map keys stay as written,
    ``awslogs-group`` for example) and convert scalars as CloudFormation does (``"30"``
    to 30 where the API wants an integer). A key with no counterpart is an error,
    not a silent drop.
    """
    shape = client.meta.service_model.operation_model(operation).input_shape
    converted: dict[str, Any] = _to_shape(properties, shape, where)
    return converted


def _to_shape(value: Any, shape: Any, where: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise DeployError(f"{where}: expected an object, got {value!r}")
        members = {name.lower(): name for name in shape.members}
        result = {}
        for key, item in value.items():
            member = members.get(key.lower())
            if member is None:
                raise DeployError(f"{where}: property {key!r} is not supported locally")
            result[member] = _to_shape(item, shape.members[member], f"{where}.{key}")
        return result
    if kind == "list":
        if not isinstance(value, list):
            raise DeployError(f"{where}: expected a list, got {value!r}")
        return [_to_shape(item, shape.member, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise DeployError(f"{where}: expected an object, got {value!r}")
        return {key: _to_shape(item, shape.value, f"{where}.{key}") for key, item in value.items()}
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not str(value).lstrip("-").isdigit():
            raise DeployError(f"{where}: expected a whole number, got {value!r}")
        return int(value)
    if kind in ("float", "double"):
        return float(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise DeployError(f"{where}: expected true or false, got {value!r}")
    if kind == "string":
        try:
            return _text(value)
        except DeployError as error:
            raise DeployError(f"{where}: {error}") from None
    return value


def _policy_document(document: Any) -> str:
    """A policy as IAM takes it; the translator omits ``Version``, which moto requires."""
    if isinstance(document, str):
        document = json.loads(document)
    return json.dumps({"Version": _POLICY_VERSION, **document})


def _tag_dict(tags: Any) -> dict[str, str]:
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {str(tag["Key"]): str(tag["Value"]) for tag in tags or []}


def _stub_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # A fixed timestamp keeps the archive (and its CodeSha256) the same every time.
        archive.writestr(zipfile.ZipInfo("README.txt", (2020, 1, 1, 0, 0, 0)), _INLINE_CODE)
    return buffer.getvalue()


_STUB_ZIP = _stub_zip()


# --------------------------------------------------------------------------- creators


def _create_role(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    iam = deployment.client("iam")
    name = props.pop("RoleName", None) or deployment.physical_name(logical_id, 64)
    policies = props.pop("Policies", [])
    managed = props.pop("ManagedPolicyArns", [])
    trust = _policy_document(props.pop("AssumeRolePolicyDocument"))
    params = _api_params(iam, "CreateRole", props, logical_id)
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, **params)["Role"]
    for policy in policies:
        iam.put_role_policy(
            RoleName=name,
            PolicyName=policy["PolicyName"],
            PolicyDocument=_policy_document(policy["PolicyDocument"]),
        )
    for policy_arn in managed:
        try:
            iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        except ClientError as error:
            aws_managed = ":iam::aws:policy/" in policy_arn
            if error.response["Error"]["Code"] != "NoSuchEntity" or not aws_managed:
                raise
            # moto holds AWS-managed policies only when started with
            # {"iam": {"load_aws_managed_policies": True}} (about +0.9 s).
            deployment.gap(
                f"AWS-managed policy {policy_arn} not attached (moto was not started "
                'with {"iam": {"load_aws_managed_policies": True}})',
                logical_id,
            )
    return _Created(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


def _create_function(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    lambda_client = deployment.client("lambda")
    name = props.pop("FunctionName", None) or deployment.physical_name(logical_id, 64)
    # The local AWS runs the Handler in-process: whatever Code says, ship a stub.
    props.pop("Code", None)
    layers = []
    for layer_arn in props.pop("Layers", []):
        if layer_arn.split(":")[4] == deployment.account_id:
            layers.append(layer_arn)
        else:
            # Another account's layer (Powertools' public one) cannot exist in this
            # account's mock; its libraries come from the local environment instead.
            deployment.gap(f"layer {layer_arn} of another account not attached", logical_id)
    tags = _tag_dict(props.pop("Tags", []))
    environment = props.pop("Environment", None)
    if environment is not None:
        variables = environment.get("Variables", {})
        props["Environment"] = {"Variables": {key: _text(val) for key, val in variables.items()}}
    params = _api_params(lambda_client, "CreateFunction", props, logical_id)
    created = lambda_client.create_function(
        FunctionName=name, Code={"ZipFile": _STUB_ZIP}, Layers=layers, Tags=tags, **params
    )
    return _Created(name, {"Arn": created["FunctionArn"]})


def _create_log_group(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    logs = deployment.client("logs")
    name = props.pop("LogGroupName", None) or deployment.physical_name(logical_id, 512)
    retention = props.pop("RetentionInDays", None)
    tags = _tag_dict(props.pop("Tags", []))
    params = _api_params(logs, "CreateLogGroup", props, logical_id)
    logs.create_log_group(logGroupName=name, **({"tags": tags} if tags else {}), **params)
    if retention is not None:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(retention))
    # CloudFormation's Arn attribute of a log group ends in ":*".
    return _Created(name, {"Arn": deployment.arn("logs", f"log-group:{name}:*")})


def _substitute_definition(definition: str, substitutions: Mapping[str, Any], where: str) -> str:
    """Apply ``DefinitionSubstitutions``; any ``${...}`` left over is an error, because
    on AWS it would reach Step Functions as a literal and fail at run time."""
    values = {key: _text(value) for key, value in substitutions.items()}
    result = _SUB_VARIABLE.sub(
        lambda m: values.get(m.group(2), m.group(0)) if not m.group(1) else m.group(0), definition
    )
    left = sorted(set(_PLACEHOLDER.findall(result)))
    if left:
        raise DeployError(f"{where}: placeholders without a DefinitionSubstitutions value: {left}")
    try:
        json.loads(result)
    except ValueError as error:
        raise DeployError(f"{where}: the definition is not JSON: {error}") from error
    return result


def _create_state_machine(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    sfn = deployment.client("stepfunctions")
    name = props.pop("StateMachineName", None) or deployment.physical_name(logical_id, 80)
    if "DefinitionS3Location" in props:
        raise DeployError(f"{logical_id}: DefinitionS3Location is not supported locally")
    definition = props.pop("DefinitionString", None)
    if definition is None:
        definition = json.dumps(props.pop("Definition"))
    definition = _substitute_definition(
        definition, props.pop("DefinitionSubstitutions", {}), logical_id
    )
    tags = [{"key": k, "value": v} for k, v in _tag_dict(props.pop("Tags", [])).items()]
    props["Type"] = props.pop("StateMachineType", "STANDARD")
    params = _api_params(sfn, "CreateStateMachine", props, logical_id)
    arn = sfn.create_state_machine(name=name, definition=definition, tags=tags, **params)[
        "stateMachineArn"
    ]
    return _Created(arn, {"Arn": arn, "Name": name})


def _create_cluster(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    ecs = deployment.client("ecs")
    name = props.pop("ClusterName", None) or deployment.physical_name(logical_id, 255)
    if "ClusterSettings" in props:
        props["Settings"] = props.pop("ClusterSettings")
    params = _api_params(ecs, "CreateCluster", props, logical_id)
    cluster = ecs.create_cluster(clusterName=name, **params)["cluster"]
    return _Created(name, {"Arn": cluster["clusterArn"]})


def _create_task_definition(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    ecs = deployment.client("ecs")
    family = props.pop("Family", None) or deployment.physical_name(logical_id, 255)
    params = _api_params(ecs, "RegisterTaskDefinition", props, logical_id)
    arn = ecs.register_task_definition(family=family, **params)["taskDefinition"][
        "taskDefinitionArn"
    ]
    return _Created(arn, {"TaskDefinitionArn": arn})


# API Gateway: a RestApi's OpenAPI Body (what the SAM translator emits) becomes resources,
# methods and integrations made one by one; moto's put_rest_api would drop the methods'
# authorization, which is exactly what must stay AWS_IAM.
_OPENAPI_METHODS = {
    "get": "GET",
    "put": "PUT",
    "post": "POST",
    "delete": "DELETE",
    "patch": "PATCH",
    "head": "HEAD",
    "options": "OPTIONS",
    "x-amazon-apigateway-any-method": "ANY",
}
_OPENAPI_TOP_LEVEL = {
    "openapi",
    "swagger",
    "info",
    "paths",
    "components",
    "securityDefinitions",
    "security",
}
#: Keys of an OpenAPI operation that carry no behaviour the local AWS would miss.
_OPENAPI_DOCUMENTATION = {"responses", "summary", "description", "operationId", "tags"}
_INTEGRATION_KEYS = {
    "type": "type",
    "httpMethod": "integrationHttpMethod",
    "uri": "uri",
    "credentials": "credentials",
    "passthroughBehavior": "passthroughBehavior",
    "timeoutInMillis": "timeoutInMillis",
    "contentHandling": "contentHandling",
}
#: Stage MethodSettings as the PATCH paths of UpdateStage.
_METHOD_SETTING_PATHS = {
    "MetricsEnabled": "metrics/enabled",
    "LoggingLevel": "logging/loglevel",
    "DataTraceEnabled": "logging/dataTrace",
    "ThrottlingBurstLimit": "throttling/burstLimit",
    "ThrottlingRateLimit": "throttling/rateLimit",
    "CachingEnabled": "caching/enabled",
    "CacheTtlInSeconds": "caching/ttlInSeconds",
    "CacheDataEncrypted": "caching/dataEncrypted",
}


def _authorization_type(security: Any, schemes: Mapping[str, Any], where: str) -> str:
    """An OpenAPI ``security`` list as a method's authorizationType."""
    if not security:
        return "NONE"
    kinds = set()
    for requirement in security:
        for name in requirement:
            scheme = schemes.get(name)
            if scheme is None:
                raise DeployError(f"{where}: security scheme {name!r} is not defined")
            if scheme.get("x-amazon-apigateway-authtype") != "awsSigv4":
                raise DeployError(f"{where}: security scheme {name!r} is not supported locally")
            kinds.add("AWS_IAM")
    if len(kinds) != 1:
        raise DeployError(f"{where}: security {security!r} is not supported locally")
    return kinds.pop()


def _import_openapi(apigw: Any, api_id: str, body: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(body) - _OPENAPI_TOP_LEVEL)
    if unknown:
        raise DeployError(f"{where}: OpenAPI key(s) {unknown} are not supported locally")
    schemes = {
        **body.get("securityDefinitions", {}),
        **body.get("components", {}).get("securitySchemes", {}),
    }
    resources = {
        item["path"]: item["id"] for item in apigw.get_resources(restApiId=api_id)["items"]
    }
    for path, operations in sorted(body.get("paths", {}).items()):
        parent = resources["/"]
        prefix = ""
        for part in [part for part in path.split("/") if part]:
            prefix = f"{prefix}/{part}"
            if prefix not in resources:
                resources[prefix] = apigw.create_resource(
                    restApiId=api_id, parentId=parent, pathPart=part
                )["id"]
            parent = resources[prefix]
        for operation, spec in operations.items():
            method_where = f"{where} {operation.upper()} {path}"
            http_method = _OPENAPI_METHODS.get(operation)
            if http_method is None:
                raise DeployError(f"{method_where}: not supported locally")
            extra = sorted(
                set(spec) - _OPENAPI_DOCUMENTATION - {"security", "x-amazon-apigateway-integration"}
            )
            if extra:
                raise DeployError(f"{method_where}: {extra} are not supported locally")
            apigw.put_method(
                restApiId=api_id,
                resourceId=parent,
                httpMethod=http_method,
                authorizationType=_authorization_type(
                    spec.get("security", body.get("security")), schemes, method_where
                ),
            )
            integration = spec.get("x-amazon-apigateway-integration")
            if integration is None:
                continue
            unsupported = sorted(set(integration) - set(_INTEGRATION_KEYS))
            if unsupported:
                raise DeployError(
                    f"{method_where}: integration {unsupported} not supported locally"
                )
            params = {_INTEGRATION_KEYS[key]: value for key, value in integration.items()}
            params["type"] = str(params["type"]).upper()
            apigw.put_integration(
                restApiId=api_id, resourceId=parent, httpMethod=http_method, **params
            )


def _create_rest_api(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    apigw = deployment.client("apigateway")
    if "BodyS3Location" in props:
        raise DeployError(f"{logical_id}: BodyS3Location is not supported locally")
    body = props.pop("Body", None)
    if isinstance(body, str):
        body = yaml.safe_load(body)
    # Import options; the endpoint type itself comes from EndpointConfiguration.
    import_options = props.pop("Parameters", {})
    if set(import_options) - {"endpointConfigurationTypes"}:
        raise DeployError(f"{logical_id}: Parameters {sorted(import_options)} not supported")
    name = props.pop("Name", None) or (body or {}).get("info", {}).get("title")
    policy = props.pop("Policy", None)
    if body and "x-amazon-apigateway-policy" in body:
        # SAM's Auth.ResourcePolicy: kept as AWS keeps it (GetRestApi's policy). The local
        # AWS does not evaluate it; tests evaluate it against the routes' ARNs.
        body = dict(body)
        policy = body.pop("x-amazon-apigateway-policy")
    if policy is not None:
        props["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
    props["Tags"] = _tag_dict(props.pop("Tags", []))
    params = _api_params(apigw, "CreateRestApi", props, logical_id)
    api = apigw.create_rest_api(
        name=_text(name or deployment.physical_name(logical_id, 255)), **params
    )
    if body:
        _import_openapi(apigw, api["id"], body, logical_id)
    return _Created(api["id"], {"RestApiId": api["id"], "RootResourceId": api["rootResourceId"]})


def _create_api_deployment(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    apigw = deployment.client("apigateway")
    params = _api_params(apigw, "CreateDeployment", props, logical_id)
    created = apigw.create_deployment(**params)
    return _Created(created["id"], {"DeploymentId": created["id"]})


def _method_setting_operations(setting: Mapping[str, Any], where: str) -> list[dict[str, str]]:
    resource_path = str(setting.get("ResourcePath", "/*"))
    # UpdateStage paths escape the resource path's slashes as ~1; "/*" means every resource.
    escaped = "*" if resource_path == "/*" else resource_path.replace("/", "~1")
    prefix = f"/{escaped}/{setting.get('HttpMethod', '*')}"
    operations = []
    for key, value in setting.items():
        if key in ("ResourcePath", "HttpMethod"):
            continue
        if key not in _METHOD_SETTING_PATHS:
            raise DeployError(f"{where}: MethodSettings {key!r} is not supported locally")
        operations.append(
            {
                "op": "replace",
                "path": f"{prefix}/{_METHOD_SETTING_PATHS[key]}",
                "value": _text(value),
            }
        )
    return operations


def _create_api_stage(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    apigw = deployment.client("apigateway")
    access_log = props.pop("AccessLogSetting", None)
    method_settings = props.pop("MethodSettings", [])
    props["Tags"] = _tag_dict(props.pop("Tags", []))
    params = _api_params(apigw, "CreateStage", props, logical_id)
    stage = apigw.create_stage(**params)
    operations: list[dict[str, str]] = []
    for key, value in (access_log or {}).items():
        member = {"DestinationArn": "destinationArn", "Format": "format"}.get(key)
        if member is None:
            raise DeployError(f"{logical_id}: AccessLogSetting {key!r} is not supported locally")
        operations.append(
            {"op": "replace", "path": f"/accessLogSettings/{member}", "value": _text(value)}
        )
    for setting in method_settings:
        operations.extend(_method_setting_operations(setting, logical_id))
    if operations:
        apigw.update_stage(
            restApiId=params["restApiId"],
            stageName=stage["stageName"],
            patchOperations=operations,
        )
    return _Created(stage["stageName"], {})


def _create_permission(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    lambda_client = deployment.client("lambda")
    statement_id = deployment.physical_name(logical_id, 100)
    params = _api_params(lambda_client, "AddPermission", props, logical_id)
    lambda_client.add_permission(StatementId=statement_id, **params)
    return _Created(statement_id, {"Id": statement_id})


def _create_events_rule(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    """An EventBridge rule and its targets (the local AWS delivers to them: eventbridge.py)."""
    events = deployment.client("events")
    name = props.pop("Name", None) or deployment.physical_name(logical_id, 64)
    targets = props.pop("Targets", [])
    if isinstance(props.get("EventPattern"), dict):
        props["EventPattern"] = json.dumps(props["EventPattern"])
    bus = props.get("EventBusName")
    params = _api_params(events, "PutRule", props, logical_id)
    arn = events.put_rule(Name=name, **params)["RuleArn"]
    if targets:
        target_params = _api_params(events, "PutTargets", {"Targets": targets}, logical_id)
        failed = events.put_targets(
            Rule=name, **({"EventBusName": bus} if bus else {}), **target_params
        ).get("FailedEntries")
        if failed:
            raise DeployError(f"{logical_id}: targets refused: {failed}")
    return _Created(name, {"Arn": arn})


def _create_subscription_filter(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    """A CloudWatch Logs subscription filter (the local AWS delivers what it matches:
    bastion/local/cloudwatch_logs.py)."""
    logs = deployment.client("logs")
    name = props.pop("FilterName", None) or deployment.physical_name(logical_id, 512)
    params = _api_params(logs, "PutSubscriptionFilter", props, logical_id)
    logs.put_subscription_filter(filterName=name, **params)
    return _Created(name, {})


def _create_managed_policy(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    """An IAM customer-managed policy; ``Ref`` is its ARN, as in CloudFormation."""
    iam = deployment.client("iam")
    name = props.pop("ManagedPolicyName", None) or deployment.physical_name(logical_id, 128)
    document = _policy_document(props.pop("PolicyDocument"))
    attach = {
        "Roles": ("RoleName", iam.attach_role_policy),
        "Users": ("UserName", iam.attach_user_policy),
        "Groups": ("GroupName", iam.attach_group_policy),
    }
    attached = {key: props.pop(key, []) for key in attach}
    params = _api_params(iam, "CreatePolicy", props, logical_id)
    policy = iam.create_policy(PolicyName=name, PolicyDocument=document, **params)["Policy"]
    for key, (argument, call) in attach.items():
        for principal in attached[key]:
            call(**{argument: principal, "PolicyArn": policy["Arn"]})
    return _Created(
        policy["Arn"],
        {
            "PolicyArn": policy["Arn"],
            "PolicyId": policy["PolicyId"],
            "DefaultVersionId": policy["DefaultVersionId"],
        },
    )


def _create_ssm_document(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    """An SSM document; ``Ref`` is its name. ``Content`` may be an object, as
    CloudFormation takes it, written in the document's format."""
    ssm = deployment.client("ssm")
    name = props.pop("Name", None) or deployment.physical_name(logical_id, 128)
    # How CloudFormation replaces a changed document: nothing to do on a first create.
    props.pop("UpdateMethod", None)
    content = props.pop("Content")
    document_format = str(props.get("DocumentFormat", "JSON"))
    if not isinstance(content, str):
        content = yaml.safe_dump(content) if document_format == "YAML" else json.dumps(content)
    tags = [{"Key": k, "Value": v} for k, v in _tag_dict(props.pop("Tags", [])).items()]
    params = _api_params(ssm, "CreateDocument", props, logical_id)
    ssm.create_document(Name=name, Content=content, **({"Tags": tags} if tags else {}), **params)
    return _Created(name, {})


_Creator = Callable[[_Deployment, str, dict[str, Any]], _Created]
#: The resource types the local deployer creates; anything else is reported by name.
_CREATORS: dict[str, _Creator] = {
    "AWS::IAM::Role": _create_role,
    "AWS::Lambda::Function": _create_function,
    "AWS::Logs::LogGroup": _create_log_group,
    "AWS::StepFunctions::StateMachine": _create_state_machine,
    "AWS::ECS::Cluster": _create_cluster,
    "AWS::ECS::TaskDefinition": _create_task_definition,
    "AWS::ApiGateway::RestApi": _create_rest_api,
    "AWS::ApiGateway::Deployment": _create_api_deployment,
    "AWS::ApiGateway::Stage": _create_api_stage,
    "AWS::Lambda::Permission": _create_permission,
    "AWS::Events::Rule": _create_events_rule,
    "AWS::Logs::SubscriptionFilter": _create_subscription_filter,
    "AWS::IAM::ManagedPolicy": _create_managed_policy,
    "AWS::SSM::Document": _create_ssm_document,
}
SUPPORTED_RESOURCE_TYPES = frozenset(_CREATORS)


# --------------------------------------------------------------------------- entry point


def _transforms(template: Mapping[str, Any]) -> list[str]:
    declared = template.get("Transform", [])
    return [declared] if isinstance(declared, str) else list(declared)


def deploy_stack(
    template_path: Path,
    parameters: Mapping[str, str],
    region: str,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
) -> DeployedStack:
    """Deploy the template at ``template_path`` into the active moto mock.

    ``parameters`` are CloudFormation parameter values as strings (lists
    comma-separated); they are checked against the template's constraints first.
    Raises :class:`ParameterError` for a bad parameter, :class:`UnsupportedResourceError`
    naming the resource types it cannot create, :class:`DeployError` otherwise.
    """
    template_path = Path(template_path)
    template = load_template(template_path)
    session = _session(region)
    ssm = session.client("ssm")

    def ssm_value(name: str) -> str:
        try:
            return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except ClientError as error:
            raise ParameterError(f"SSM parameter {name!r} cannot be read: {error}") from error

    effective, ref_values = _resolve_parameters(
        template.get("Parameters", {}), parameters, ssm_value
    )
    transforms = _transforms(template)
    if transforms and transforms != [SAM_TRANSFORM]:
        raise DeployError(f"only the {SAM_TRANSFORM} transform is supported, got {transforms}")
    if template.get("Rules"):
        raise DeployError("template Rules are not evaluated by the local deployer")
    if transforms:
        _inline_local_artifacts(template, template_path.parent)
        translator_values = {
            name: ",".join(value) if isinstance(value, list) else value
            for name, value in ref_values.items()
        }
        template = _translate(template, region, translator_values)

    deployment = _Deployment(template, ref_values, session, stack_name)
    deployment.deploy()
    created = deployment.created
    return DeployedStack(
        stack_name=stack_name,
        region=region,
        parameters=effective,
        resources={lid: c.physical_id for lid, c in created.items()},
        resource_types={lid: deployment.resources[lid]["Type"] for lid in created},
        attributes={lid: dict(c.attributes) for lid, c in created.items()},
        outputs=deployment.outputs(),
        local_gaps=tuple(f"{gap}: {', '.join(ids)}" for gap, ids in deployment.gaps.items()),
    )
