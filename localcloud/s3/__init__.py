"""S3 in localcloud: moto's, with bucket policies evaluated as AWS evaluates them (see `policy`)."""
