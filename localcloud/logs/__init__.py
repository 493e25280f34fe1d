"""CloudWatch Logs: moto's, with FilterLogEvents honouring logStreamNamePrefix."""
