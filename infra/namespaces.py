"""The CloudWatch namespaces Model Monitor publishes to (AWS's names), for the stack's alarms and the CLI.

Kept free of imports, as outputs.py is: the CLI reads them without loading the CDK.
"""

DATA_METRICS = "aws/sagemaker/Endpoints/data-metrics"
MODEL_METRICS = "aws/sagemaker/Endpoints/model-metrics"
