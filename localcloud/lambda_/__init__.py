"""Lambda functions that really run: Python handlers as local processes, the way jobs run.

moto stores functions and runs them only in Docker; localcloud runs a `python3.X` function's
handler in a process of its own on a matching interpreter (runtime.py), with the function's
environment and the AWS SDK as Lambda's runtime provides it, its output in CloudWatch Logs and
its timeout enforced. Invoke (RequestResponse, Event, DryRun), EventBridge rule targets and SNS
subscriptions all reach it (backend.py).
"""
