"""Code the stack runs as AWS Lambda functions (each folder is one function's deployment package)."""
