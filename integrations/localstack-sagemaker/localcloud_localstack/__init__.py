"""LocalStack CloudFormation providers for SageMaker resource types, backed by localcloud (backplane mode)."""
