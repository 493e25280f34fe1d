"""`sagestack console`: the report's views served live on 127.0.0.1, with the registry's actions."""
