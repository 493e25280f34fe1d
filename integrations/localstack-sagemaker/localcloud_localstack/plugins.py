"""The plux plugins LocalStack's CloudFormation finds (entry points in pyproject.toml), one per type.

A plugin is loaded only when a template uses its type, so importing this module costs nothing
else; `load()` builds the provider class for the type.
"""

from __future__ import annotations

from localstack.services.cloudformation.resource_provider import CloudFormationResourceProviderPlugin

from localcloud_localstack.providers import KINDS, provider


def _plugin(resource_type: str) -> type[CloudFormationResourceProviderPlugin]:
    def __init__(self: CloudFormationResourceProviderPlugin) -> None:
        self.factory = None

    def load(self: CloudFormationResourceProviderPlugin) -> None:
        self.factory = provider(KINDS[resource_type])

    noun = KINDS[resource_type].noun
    return type(f"{noun}Plugin", (CloudFormationResourceProviderPlugin,),
                {"name": resource_type, "__init__": __init__, "load": load})


ModelPackageGroupPlugin = _plugin("AWS::SageMaker::ModelPackageGroup")
PipelinePlugin = _plugin("AWS::SageMaker::Pipeline")
ModelPlugin = _plugin("AWS::SageMaker::Model")
EndpointConfigPlugin = _plugin("AWS::SageMaker::EndpointConfig")
EndpointPlugin = _plugin("AWS::SageMaker::Endpoint")
DataQualityJobDefinitionPlugin = _plugin("AWS::SageMaker::DataQualityJobDefinition")
ModelQualityJobDefinitionPlugin = _plugin("AWS::SageMaker::ModelQualityJobDefinition")
MonitoringSchedulePlugin = _plugin("AWS::SageMaker::MonitoringSchedule")
