"""CloudFormation's pre-flight checks (parameter constraints, SSM parameter types, template rules), as functions."""

from __future__ import annotations

from typing import Any

import pytest
from moto.cloudformation.exceptions import ValidationError

from localcloud.cloudformation.preflight import check, resolve

SSM = {"/cdk-bootstrap/hnb659fds/version": "30"}


def _check(template: dict[str, Any], given: dict[str, Any]) -> None:
    check({"Resources": {}, **template}, given, SSM.get)


def _refused(template: dict[str, Any], given: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        _check(template, given)
    return caught.value.message


def test_allowed_pattern_matches_the_whole_value_and_names_the_pattern() -> None:
    template = {"Parameters": {"Name": {"Type": "String", "AllowedPattern": "[a-z]+"}}}
    _check(template, {"Name": "abc"})
    assert _refused(template, {"Name": "abc1"}) == "Parameter 'Name' must match pattern [a-z]+"


def test_a_constraint_description_replaces_the_reason() -> None:
    template = {"Parameters": {"Name": {"Type": "String", "AllowedPattern": "[a-z]+",
                                        "ConstraintDescription": "lower-case letters only"}}}
    assert _refused(template, {"Name": "A"}) == "Parameter Name failed to satisfy constraint: lower-case letters only"


@pytest.mark.parametrize(("spec", "value", "reason"), [
    ({"AllowedValues": ["a", "b"]}, "c", "Parameter 'P' must be one of AllowedValues"),
    ({"MinLength": 3}, "ab", "Parameter 'P' must contain at least 3 characters"),
    ({"MaxLength": "2"}, "abc", "Parameter 'P' must contain at most 2 characters"),
    ({"Type": "Number", "MinValue": 1}, "0", "Parameter 'P' must be a number not less than 1"),
    ({"Type": "Number", "MaxValue": 10}, "11", "Parameter 'P' must be a number not greater than 10"),
    ({"Type": "Number"}, "ten", "Parameter 'P' must be a number"),
    ({"Type": "CommaDelimitedList", "AllowedPattern": "[a-z]+"}, "ab,c1", "Parameter 'P' must match pattern [a-z]+"),
])
def test_each_constraint_refuses_a_value_that_breaks_it(spec: dict[str, Any], value: str, reason: str) -> None:
    assert _refused({"Parameters": {"P": {"Type": "String", **spec}}}, {"P": value}) == reason


def test_defaults_are_checked_and_good_values_pass() -> None:
    template = {"Parameters": {"P": {"Type": "String", "Default": "", "AllowedPattern": "^$|^[0-9a-f]{4}$"},
                               "N": {"Type": "Number", "Default": 5, "MinValue": 1, "MaxValue": 10}}}
    _check(template, {})
    _check(template, {"P": "beef", "N": "7"})
    assert "must match pattern" in _refused(template, {"P": "BEEF"})


def test_missing_and_unknown_parameters_are_refused() -> None:
    template = {"Parameters": {"A": {"Type": "String"}, "B": {"Type": "String", "Default": "x"}}}
    assert _refused(template, {}) == "Parameters: [A] must have values"
    assert _refused(template, {"A": "1", "C": "2"}) == "Parameters: [C] do not exist in the template"


def test_an_ssm_parameter_type_reads_the_stored_value_and_a_missing_one_is_refused() -> None:
    template = {"Parameters": {"V": {"Type": "AWS::SSM::Parameter::Value<String>",
                                     "Default": "/cdk-bootstrap/hnb659fds/version"}}}
    assert resolve({"Resources": {}, **template}, {}, SSM.get) == {"V": "30"}
    assert _refused(template, {"V": "/nope"}) == \
        "Unable to fetch parameters [/nope] from parameter store for this account."


CDK_BOOTSTRAP_RULE = {"CheckBootstrapVersion": {"Assertions": [{
    "Assert": {"Fn::Not": [{"Fn::Contains": [["1", "2", "3", "4", "5"], {"Ref": "BootstrapVersion"}]}]},
    "AssertDescription": "CDK bootstrap stack version 6 required."}]}}


def test_the_cdk_bootstrap_rule_sees_the_stored_version() -> None:
    template = {"Parameters": {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>",
                                                    "Default": "/cdk-bootstrap/hnb659fds/version"}},
                "Rules": CDK_BOOTSTRAP_RULE}
    _check(template, {})
    with pytest.raises(ValidationError, match="version 6 required"):
        check({"Resources": {}, **template}, {}, {"/cdk-bootstrap/hnb659fds/version": "4"}.get)


TOGETHER = {"Parameters": {"A": {"Type": "String", "Default": ""}, "B": {"Type": "String", "Default": ""}},
            "Rules": {"Together": {"Assertions": [{"Assert": {"Fn::Or": [
                {"Fn::And": [{"Fn::Equals": [{"Ref": "A"}, ""]}, {"Fn::Equals": [{"Ref": "B"}, ""]}]},
                {"Fn::And": [{"Fn::Not": [{"Fn::Equals": [{"Ref": "A"}, ""]}]},
                             {"Fn::Not": [{"Fn::Equals": [{"Ref": "B"}, ""]}]}]}]},
                "AssertDescription": "A and B go together"}]}}}


@pytest.mark.parametrize(("given", "ok"), [({}, True), ({"A": "1", "B": "2"}, True), ({"A": "1"}, False),
                                           ({"B": "2"}, False)])
def test_rules_combine_and_or_not_equals(given: dict[str, str], ok: bool) -> None:
    if ok:
        _check(TOGETHER, given)
    else:
        assert _refused(TOGETHER, given) == "A and B go together"


def test_a_rule_condition_that_does_not_hold_skips_the_assertions() -> None:
    template = {"Parameters": {"Env": {"Type": "String"}, "Size": {"Type": "String"}},
                "Rules": {"ProdIsBig": {"RuleCondition": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
                                        "Assertions": [{"Assert": {"Fn::Contains": [["large"], {"Ref": "Size"}]}}]}}}
    _check(template, {"Env": "dev", "Size": "small"})
    assert _refused(template, {"Env": "prod", "Size": "small"}) == "Assertion of rule ProdIsBig failed"


def test_each_member_functions_and_unsupported_lookups() -> None:
    template = {"Parameters": {"L": {"Type": "CommaDelimitedList"}},
                "Rules": {"R": {"Assertions": [{"Assert": {"Fn::EachMemberIn": [{"Ref": "L"}, ["a", "b"]]}},
                                               {"Assert": {"Fn::EachMemberEquals": [{"Ref": "L"}, "a"]}}]}}}
    _check(template, {"L": "a,a"})
    assert "failed" in _refused(template, {"L": "a,b"})
    assert "failed" in _refused(template, {"L": "a,c"})
    lookup = {"Parameters": {"P": {"Type": "String"}},
              "Rules": {"R": {"Assertions": [{"Assert": {"Fn::Equals": [{"Fn::ValueOf": ["P", "VpcId"]}, "x"]}}]}}}
    assert "does not support Fn::ValueOf" in _refused(lookup, {"P": "x"})
