"""CloudWatch with alarms that evaluate themselves: statistics, metric math, missing data, actions, history."""
