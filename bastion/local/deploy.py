"""Deploy ``template.yaml`` into the local AWS, the way CloudFormation would.

The SAM template is translated to plain CloudFormation offline (aws-sam-translator),
then every resource is created through the public boto3 APIs of whatever moto mock
is active, in dependency order, with ``Ref``/``GetAtt``/``Sub``/... resolved here.
moto's own CloudFormation (5.2.5) is not used: it puts state machines in a backend the
Step Functions API does not read, and ignores ``DefinitionSubstitutions`` and most
TaskDefinition properties.

The deployer handles what the translated template.yaml uses and nothing more: its
parameter types, intrinsic and condition functions, resource types and the properties
and OpenAPI keys they carry (tests/local/test_deploy.py keeps the lists exact).
Anything else is never skipped silently: a resource type, function or property the
deployer does not know raises :class:`DeployError` naming it, and the
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
    "translate_template",
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
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    else:
        value = loader.construct_sequence(node, deep=True)
    if tag_suffix == "Ref":
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # "Resource.Attribute.With.Dots": only the first dot separates the resource.
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


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


def _inline_local_artifacts(template: dict[str, Any], base_dir: Path) -> None:
    """Replace each local ``CodeUri`` (which the translator rejects as not S3) with inline
    code, and each ``DefinitionUri`` with the JSON definition it names, as ``sam package``
    would upload them."""
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            code = props.pop("CodeUri", None)
            if code is not None and not (base_dir / code).exists():
                raise DeployError(f"{logical_id}: CodeUri {code!r} does not exist")
            props["InlineCode"] = _INLINE_CODE
        elif resource.get("Type") == "AWS::Serverless::StateMachine":
            uri = props.pop("DefinitionUri", None)
            try:
                props["Definition"] = json.loads((base_dir / str(uri)).read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise DeployError(f"{logical_id}: DefinitionUri {uri!r}: {error}") from error


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

#: The parameter types the deployer checks, each with the type of its items.
_PARAMETER_ITEM_TYPES = {
    "String": "String",
    "Number": "Number",
    "CommaDelimitedList": "String",
    "List<AWS::EC2::Subnet::Id>": "AWS::EC2::Subnet::Id",
}
_SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,17}")


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
    if item_type == "AWS::EC2::Subnet::Id" and not _SUBNET_ID.fullmatch(value):
        return f"must be an {item_type}, got {value!r}"
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
    declared: Mapping[str, Mapping[str, Any]], given: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str | list[str]]]:
    """Validate ``given`` against the declarations the way CloudFormation does.

    Returns the effective values as given (defaults filled in) and the values ``Ref``
    yields (lists for list types).
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ParameterError(f"Parameters {unknown} do not exist in the template")
    effective: dict[str, str] = {}
    ref_values: dict[str, str | list[str]] = {}
    for name, spec in declared.items():
        if name in given:
            value = given[name]
            if not isinstance(value, str):
                raise ParameterError(
                    f"Parameter '{name}' must be given as a string, got {type(value).__name__}"
                )
        elif "Default" in spec:
            value = str(spec["Default"])
        else:
            raise ParameterError(f"Parameter '{name}' must have a value (it has no default)")
        kind = str(spec.get("Type", "String"))
        item_type = _PARAMETER_ITEM_TYPES.get(kind)
        if item_type is None:
            raise ParameterError(f"Parameter '{name}': type {kind} is not supported locally")
        is_list = kind != item_type
        items = [item.strip() for item in value.split(",")] if is_list else [value]
        if item_type == "AWS::EC2::Subnet::Id" and items == [""]:
            problem: str | None = f"must name at least one {item_type}"
        else:
            problem = next((p for item in items if (p := _check_one(spec, item_type, item))), None)
        if problem:
            hint = spec.get("ConstraintDescription")
            raise ParameterError(f"Parameter '{name}' {problem}" + (f" ({hint})" if hint else ""))
        effective[name] = value
        ref_values[name] = items if is_list else value
    return effective, ref_values


# --------------------------------------------------------------------------- resolving


class _NoValue:
    """``AWS::NoValue``: removes the property or list item it stands for."""


_NO_VALUE = _NoValue()
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


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
        self.values: dict[str, Any] = {
            **ref_values,
            "AWS::AccountId": self.account_id,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": url_suffix,
            "AWS::StackName": stack_name,
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
        if function == "Fn::Equals":
            left, right = (_text(self.resolve(arg)) for arg in args)
            return left == right
        if function == "Fn::Not":
            return not self._evaluate(args[0])
        raise DeployError(f"condition function {function} is not supported by the local deployer")

    def active(self, logical_id: str) -> bool:
        name = self.resources[logical_id].get("Condition")
        return name is None or self.condition(name)

    # ------------------------------------------------------------ dependencies

    def dependencies(self, logical_id: str) -> set[str]:
        """The resources ``logical_id`` needs first: its references and DependsOn."""
        resource = self.resources[logical_id]
        found = set(resource.get("DependsOn", []))
        self._collect(resource.get("Properties", {}), found)
        unknown = sorted(found - set(self.resources))
        if unknown:
            raise DeployError(f"{logical_id} refers to unknown resource(s) {unknown}")
        return found

    def _collect(self, value: Any, found: set[str]) -> None:
        if isinstance(value, list):
            for item in value:
                self._collect(item, found)
            return
        if not isinstance(value, dict):
            return
        if len(value) == 1:
            ((key, args),) = value.items()
            if key == "Ref":
                if args not in self.values:
                    found.add(args)
                return
            if key == "Fn::GetAtt":
                found.add(args[0])
                return
            if key == "Fn::If":
                self._collect(args[1] if self.condition(args[0]) else args[2], found)
                return
            if key == "Fn::Sub":
                text, variables = (args, {}) if isinstance(args, str) else args
                self._collect(variables, found)
                for name in _SUB_VARIABLE.findall(text):
                    if name not in variables and name not in self.values:
                        found.add(name.split(".", 1)[0])
                return
        for item in value.values():
            self._collect(item, found)

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

    def sub(self, args: Any) -> str:
        text, variables = (args, {}) if isinstance(args, str) else args
        resolved = {key: _text(self.resolve(val)) for key, val in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in resolved:
                return resolved[name]
            if "." in name and name not in self.values:
                return self.get_att(*name.split(".", 1))
            return _text(self.ref(name))

        return _SUB_VARIABLE.sub(replace, _text(text))

    def join(self, args: Any) -> str:
        delimiter, items = args
        resolved = self.resolve(items)
        if not isinstance(resolved, list):
            raise DeployError(f"Fn::Join needs a list, got {resolved!r}")
        return _text(delimiter).join(_text(item) for item in resolved)

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
                if key not in _INTRINSICS:
                    raise DeployError(
                        f"intrinsic function {key} is not supported by the local deployer"
                    )
                return _INTRINSICS[key](self, args)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

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
        return {
            name: _text(self.resolve(output["Value"]))
            for name, output in self.template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }


#: The intrinsic functions the deployer evaluates (conditions: ``_Deployment._evaluate``).
_INTRINSICS: dict[str, Callable[[_Deployment, Any], Any]] = {
    "Ref": _Deployment.ref,
    "Fn::GetAtt": lambda deployment, args: deployment.get_att(*args),
    "Fn::Sub": _Deployment.sub,
    "Fn::If": lambda deployment, args: deployment.resolve(
        args[1] if deployment.condition(args[0]) else args[2]
    ),
    "Fn::Join": _Deployment.join,
    "Fn::Split": lambda deployment, args: _text(deployment.resolve(args[1])).split(_text(args[0])),
}
SUPPORTED_INTRINSIC_FUNCTIONS = frozenset(_INTRINSICS)
SUPPORTED_CONDITION_FUNCTIONS = frozenset({"Fn::Equals", "Fn::Not"})


# --------------------------------------------------------------------------- API shapes


def _api_params(
    client: Any, operation: str, properties: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """CloudFormation properties as the API operation's input.

    CloudFormation spells most properties as the API does, only PascalCase: match each
    key to the operation's input shape case-insensitively (map keys stay as written,
    ``awslogs-group`` for example). A key with no counterpart is an error, not a silent
    drop; scalars go as they are, and botocore refuses one of the wrong type.
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
    return value


def _policy_document(document: Mapping[str, Any]) -> str:
    """A policy as IAM takes it; the translator omits ``Version``, which moto requires."""
    return json.dumps({"Version": _POLICY_VERSION, **document})


def _stub_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # A fixed timestamp keeps the archive (and its CodeSha256) the same every time.
        archive.writestr(zipfile.ZipInfo("README.txt", (2020, 1, 1, 0, 0, 0)), _INLINE_CODE)
    return buffer.getvalue()


_STUB_ZIP = _stub_zip()


# --------------------------------------------------------------------------- creators
# Each creator gives a resource its CloudFormation-style name under the property the
# template would name it with, so that a name in the template wins over it.


def _create_role(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    iam = deployment.client("iam")
    policies = props.pop("Policies", [])
    managed = props.pop("ManagedPolicyArns", [])
    props["AssumeRolePolicyDocument"] = _policy_document(props["AssumeRolePolicyDocument"])
    named = {"RoleName": deployment.physical_name(logical_id, 64), **props}
    role = iam.create_role(**_api_params(iam, "CreateRole", named, logical_id))["Role"]
    name = role["RoleName"]
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
    return _Created(name, {"Arn": role["Arn"]})


def _create_function(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    lambda_client = deployment.client("lambda")
    # The local AWS runs the Handler in-process: whatever Code says, ship a stub.
    props["Code"] = {"ZipFile": _STUB_ZIP}
    layers = []
    for layer_arn in props.pop("Layers", []):
        if layer_arn.split(":")[4] == deployment.account_id:
            layers.append(layer_arn)
        else:
            # Another account's layer (Powertools' public one) cannot exist in this
            # account's mock; its libraries come from the local environment instead.
            deployment.gap(f"layer {layer_arn} of another account not attached", logical_id)
    props["Layers"] = layers
    props["Tags"] = {tag["Key"]: tag["Value"] for tag in props.pop("Tags", [])}
    named = {"FunctionName": deployment.physical_name(logical_id, 64), **props}
    params = _api_params(lambda_client, "CreateFunction", named, logical_id)
    created = lambda_client.create_function(**params)
    return _Created(created["FunctionName"], {"Arn": created["FunctionArn"]})


def _create_log_group(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    logs = deployment.client("logs")
    retention = props.pop("RetentionInDays", None)
    params = _api_params(logs, "CreateLogGroup", props, logical_id)
    logs.create_log_group(**params)
    name = params["logGroupName"]
    if retention is not None:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(retention))
    # CloudFormation's Arn attribute of a log group ends in ":*".
    return _Created(name, {"Arn": deployment.arn("logs", f"log-group:{name}:*")})


def _substitute_definition(definition: str, substitutions: Mapping[str, Any], where: str) -> str:
    """Apply ``DefinitionSubstitutions``; any ``${...}`` left over is an error, because
    on AWS it would reach Step Functions as a literal and fail at run time."""
    values = {key: _text(value) for key, value in substitutions.items()}
    result = _SUB_VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), definition)
    left = sorted({match.group(0) for match in _SUB_VARIABLE.finditer(result)})
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
    props["Definition"] = _substitute_definition(
        props.pop("DefinitionString"), props.pop("DefinitionSubstitutions", {}), logical_id
    )
    props["Name"] = props.pop("StateMachineName")
    props["Type"] = props.pop("StateMachineType", "STANDARD")
    params = _api_params(sfn, "CreateStateMachine", props, logical_id)
    arn = sfn.create_state_machine(**params)["stateMachineArn"]
    return _Created(arn, {"Arn": arn, "Name": params["name"]})


def _create_cluster(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    ecs = deployment.client("ecs")
    props["Settings"] = props.pop("ClusterSettings", [])
    named = {"ClusterName": deployment.physical_name(logical_id, 255), **props}
    cluster = ecs.create_cluster(**_api_params(ecs, "CreateCluster", named, logical_id))
    return _Created(cluster["cluster"]["clusterName"], {"Arn": cluster["cluster"]["clusterArn"]})


def _create_task_definition(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    ecs = deployment.client("ecs")
    params = _api_params(ecs, "RegisterTaskDefinition", props, logical_id)
    return _Created(
        ecs.register_task_definition(**params)["taskDefinition"]["taskDefinitionArn"], {}
    )


# API Gateway: a RestApi's OpenAPI Body (what the SAM translator emits) becomes resources,
# methods and integrations made one by one; moto's put_rest_api would drop the methods'
# authorization, which is exactly what must stay AWS_IAM.
_OPENAPI_METHODS = {"get": "GET", "post": "POST", "delete": "DELETE"}
_OPENAPI_TOP_LEVEL = {"openapi", "info", "paths", "components"}
_OPENAPI_OPERATION = {"responses", "security", "x-amazon-apigateway-integration"}
_INTEGRATION_KEYS = {"type": "type", "httpMethod": "integrationHttpMethod", "uri": "uri"}
#: A Stage's AccessLogSetting and every-method MethodSettings as UpdateStage's PATCH paths.
_STAGE_PATCH_PATHS = {
    "DestinationArn": "/accessLogSettings/destinationArn",
    "Format": "/accessLogSettings/format",
    "MetricsEnabled": "/*/*/metrics/enabled",
    "ThrottlingBurstLimit": "/*/*/throttling/burstLimit",
    "ThrottlingRateLimit": "/*/*/throttling/rateLimit",
}


def _require_sigv4(security: Any, schemes: Mapping[str, Any], where: str) -> None:
    """A method's OpenAPI ``security`` must be SigV4 (AWS_IAM): anything else would
    leave the method open locally."""
    names = [name for requirement in security or [] for name in requirement]
    if not names:
        raise DeployError(f"{where}: a method without security is not supported locally")
    for name in names:
        if schemes.get(name, {}).get("x-amazon-apigateway-authtype") != "awsSigv4":
            raise DeployError(f"{where}: security scheme {name!r} is not supported locally")


def _import_openapi(apigw: Any, api_id: str, body: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(body) - _OPENAPI_TOP_LEVEL)
    if unknown:
        raise DeployError(f"{where}: OpenAPI key(s) {unknown} are not supported locally")
    schemes = body.get("components", {}).get("securitySchemes", {})
    resources = {
        item["path"]: item["id"] for item in apigw.get_resources(restApiId=api_id)["items"]
    }
    for path, operations in sorted(body["paths"].items()):
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
            extra = sorted(set(spec) - _OPENAPI_OPERATION)
            if extra:
                raise DeployError(f"{method_where}: {extra} are not supported locally")
            _require_sigv4(spec.get("security"), schemes, method_where)
            method = {"restApiId": api_id, "resourceId": parent, "httpMethod": http_method}
            apigw.put_method(**method, authorizationType="AWS_IAM")
            integration = spec["x-amazon-apigateway-integration"]
            unsupported = sorted(set(integration) - set(_INTEGRATION_KEYS))
            if unsupported:
                raise DeployError(
                    f"{method_where}: integration {unsupported} not supported locally"
                )
            params = {_INTEGRATION_KEYS[key]: value for key, value in integration.items()}
            params["type"] = str(params["type"]).upper()
            apigw.put_integration(**method, **params)


def _create_rest_api(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    apigw = deployment.client("apigateway")
    body = props.pop("Body")
    # Import options; the endpoint type itself comes from EndpointConfiguration.
    import_options = props.pop("Parameters", {})
    if set(import_options) - {"endpointConfigurationTypes"}:
        raise DeployError(f"{logical_id}: Parameters {sorted(import_options)} not supported")
    # SAM's Auth.ResourcePolicy: kept as AWS keeps it (GetRestApi's policy). The local
    # AWS does not evaluate it; tests evaluate it against the routes' ARNs.
    policy = body.pop("x-amazon-apigateway-policy", None)
    if policy is not None:
        props["Policy"] = json.dumps(policy)
    props["Name"] = body["info"]["title"]
    api = apigw.create_rest_api(**_api_params(apigw, "CreateRestApi", props, logical_id))
    _import_openapi(apigw, api["id"], body, logical_id)
    return _Created(api["id"], {})


def _create_api_deployment(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    apigw = deployment.client("apigateway")
    params = _api_params(apigw, "CreateDeployment", props, logical_id)
    return _Created(apigw.create_deployment(**params)["id"], {})


def _create_api_stage(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    apigw = deployment.client("apigateway")
    patches = dict(props.pop("AccessLogSetting", {}))
    for setting in props.pop("MethodSettings", []):
        scope = (setting.pop("ResourcePath", "/*"), setting.pop("HttpMethod", "*"))
        if scope != ("/*", "*"):
            raise DeployError(f"{logical_id}: MethodSettings of {scope} not supported locally")
        patches.update(setting)
    operations = []
    for key, value in patches.items():
        if key not in _STAGE_PATCH_PATHS:
            raise DeployError(f"{logical_id}: stage setting {key!r} is not supported locally")
        operations.append({"op": "replace", "path": _STAGE_PATCH_PATHS[key], "value": _text(value)})
    params = _api_params(apigw, "CreateStage", props, logical_id)
    stage = apigw.create_stage(**params)
    if operations:
        apigw.update_stage(
            restApiId=params["restApiId"], stageName=stage["stageName"], patchOperations=operations
        )
    return _Created(stage["stageName"], {})


def _create_permission(deployment: _Deployment, logical_id: str, props: dict[str, Any]) -> _Created:
    lambda_client = deployment.client("lambda")
    named = {"StatementId": deployment.physical_name(logical_id, 100), **props}
    params = _api_params(lambda_client, "AddPermission", named, logical_id)
    lambda_client.add_permission(**params)
    return _Created(params["StatementId"], {})


def _create_events_rule(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    """An EventBridge rule and its targets (the local AWS delivers to them: eventbridge.py)."""
    events = deployment.client("events")
    targets = props.pop("Targets")
    if "EventPattern" in props:
        props["EventPattern"] = json.dumps(props["EventPattern"])
    named = {"Name": deployment.physical_name(logical_id, 64), **props}
    params = _api_params(events, "PutRule", named, logical_id)
    arn = events.put_rule(**params)["RuleArn"]
    rule_targets = {"Rule": params["Name"], "Targets": targets}
    failed = events.put_targets(**_api_params(events, "PutTargets", rule_targets, logical_id))
    if failed["FailedEntries"]:
        raise DeployError(f"{logical_id}: targets refused: {failed['FailedEntries']}")
    return _Created(params["Name"], {"Arn": arn})


def _create_subscription_filter(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    """A CloudWatch Logs subscription filter (the local AWS delivers what it matches:
    bastion/local/cloudwatch_logs.py)."""
    logs = deployment.client("logs")
    named = {"FilterName": deployment.physical_name(logical_id, 512), **props}
    params = _api_params(logs, "PutSubscriptionFilter", named, logical_id)
    logs.put_subscription_filter(**params)
    return _Created(params["filterName"], {})


def _create_managed_policy(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    """An IAM customer-managed policy; ``Ref`` is its ARN, as in CloudFormation."""
    iam = deployment.client("iam")
    props["PolicyDocument"] = _policy_document(props["PolicyDocument"])
    named = {"PolicyName": deployment.physical_name(logical_id, 128), **props}
    policy = iam.create_policy(**_api_params(iam, "CreatePolicy", named, logical_id))["Policy"]
    return _Created(policy["Arn"], {})


def _create_ssm_document(
    deployment: _Deployment, logical_id: str, props: dict[str, Any]
) -> _Created:
    """An SSM document; ``Ref`` is its name. ``Content`` is an object, as CloudFormation
    takes it, written as JSON."""
    ssm = deployment.client("ssm")
    props["Content"] = json.dumps(props["Content"])
    named = {"Name": deployment.physical_name(logical_id, 128), **props}
    params = _api_params(ssm, "CreateDocument", named, logical_id)
    ssm.create_document(**params)
    return _Created(params["Name"], {})


_Creator = Callable[[_Deployment, str, dict[str, Any]], _Created]
#: The resource types the local deployer creates: exactly those the translated
#: template.yaml holds (tests/local/test_deploy.py keeps it so); anything else is
#: reported by name.
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


def translate_template(
    template_path: Path, parameters: Mapping[str, str], region: str
) -> tuple[dict[str, Any], dict[str, str], dict[str, str | list[str]]]:
    """The template at ``template_path`` as plain CloudFormation, with the effective
    parameter values (defaults filled in) and the values ``Ref`` yields for them.

    Raises :class:`ParameterError` for a bad parameter, :class:`DeployError` for a
    template the local deployer cannot take.
    """
    template_path = Path(template_path)
    template = load_template(template_path)
    effective, ref_values = _resolve_parameters(template.get("Parameters", {}), parameters)
    transforms = template.get("Transform", [])
    if transforms not in ([], SAM_TRANSFORM):
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
    return template, effective, ref_values


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
    template, effective, ref_values = translate_template(template_path, parameters, region)
    deployment = _Deployment(template, ref_values, _session(region), stack_name)
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
