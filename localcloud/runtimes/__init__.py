"""Python environments that match SageMaker framework containers, built on first use.

`specs` says what each supported image contains (from its published Dockerfiles and pins),
`store` builds and caches one environment per image version, `layers` adds a job's
`requirements.txt` on top of one, and `python -m localcloud.runtimes` lists, builds and
re-locks them.
"""
