"""The AWS API surface of localcloud: what a request is, whether AWS would accept it, and errors in AWS's shapes.

Every request is identified (service, operation, region, wire protocol) and checked against the
service's own API model as botocore ships it, before moto's backends see it. That is how a name
that AWS would refuse never becomes a folder, and how a malformed body gets AWS's validation error
instead of an exception deep inside a backend.
"""
