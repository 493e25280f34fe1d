"""Small SageMaker-style scripts and artifacts for tests that drive localcloud.

Plain scripts as a SageMaker user would write them: processing code hard-codes
/opt/ml paths, training code uses the SM_* variables, serving defines model_fn only.
"""

from __future__ import annotations

import io
import tarfile
import uuid
from typing import Any

import numpy as np

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
SKLEARN_1_2_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

PREP = r'''
import glob, os
import pandas as pd
frames = [pd.read_csv(f, header=None) for f in sorted(glob.glob("/opt/ml/processing/input/data/*.csv"))]
df = pd.concat(frames)
os.makedirs("/opt/ml/processing/train", exist_ok=True)
df.to_csv("/opt/ml/processing/train/train.csv", header=False, index=False)
with open("/opt/ml/processing/train/report.json", "w") as f:
    f.write('{"rows": %d, "quality": {"score": %s}}' % (len(df), os.environ.get("SCORE", "0.75")))
print("prepared", len(df))
'''

TRAIN = r'''
import argparse, glob, os
import joblib, pandas as pd
from sklearn.linear_model import LinearRegression

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--fit_intercept", type=int, default=1)
    a = p.parse_args()
    files = glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*.csv"))
    df = pd.concat(pd.read_csv(f, header=None) for f in files)
    model = LinearRegression(fit_intercept=bool(a.fit_intercept)).fit(df.iloc[:, 1:].values, df.iloc[:, 0].values)
    joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
    print("score=%.6f;" % model.score(df.iloc[:, 1:].values, df.iloc[:, 0].values))
'''

ANSWERING_SERVE = r'''
import os
import time

def model_fn(model_dir):
    return float(os.environ["ANSWER"])

def predict_fn(data, model):
    if os.environ.get("BROKEN"):
        raise RuntimeError("this model fails every request")
    time.sleep(float(os.environ.get("SLOW_MS", "0")) / 1000)
    return [model] * len(data)
'''
"""Serving code whose answer (ANSWER) tells which model served a request; BROKEN=1 fails every request,
SLOW_MS=n answers each one n milliseconds late."""

BROKEN_SERVE = r'''
def model_fn(model_dir):
    raise RuntimeError("cannot load model 3c9e")
'''


def tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def linear_data(rows: int = 200, seed: int = 7) -> tuple[np.ndarray, np.ndarray, str]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    y = 2.0 * X[:, 0] - 1.0 * X[:, 1] + 0.5 * X[:, 2] + 3.0
    csv = "\n".join(",".join(f"{v:.6f}" for v in (t, *row)) for t, row in zip(y, X, strict=True))
    return X, y, csv


class Workspace:
    """A bucket with data and code, and helpers to build requests in it."""

    def __init__(self, cloud: Any):
        self.s3 = cloud.client("s3")
        self.sm = cloud.client("sagemaker")
        self.tag = uuid.uuid4().hex[:8]
        self.bucket = f"lc-{self.tag}"
        self.s3.create_bucket(Bucket=self.bucket)
        _, _, csv = linear_data()
        self.put("data/part-0.csv", csv.encode())
        self.put("code/prep.py", PREP.encode())
        self.put("code/sourcedir.tar.gz", tarball({"train.py": TRAIN.encode()}))
        self.put("code/broken.tar.gz", tarball({"serve.py": BROKEN_SERVE.encode()}))

    def put(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def processing(self, entry: list[str], inputs: list[tuple[str, Any, str]], outputs: list[tuple[str, Any, str]],
                   image: str = SKLEARN_IMAGE, env: dict[str, Any] | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {
            "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                      "VolumeSizeInGB": 30}},
            "AppSpecification": {"ImageUri": image, "ContainerEntrypoint": entry},
            "RoleArn": ROLE,
            "ProcessingInputs": [{"InputName": n, "S3Input": {
                "S3Uri": u, "LocalPath": p, "S3DataType": "S3Prefix", "S3InputMode": "File"}} for n, u, p in inputs],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": n, "S3Output": {
                "S3Uri": u, "LocalPath": p, "S3UploadMode": "EndOfJob"}} for n, u, p in outputs]},
        }
        if env:
            request["Environment"] = env
        return request

    def training(self, train_uri: Any, hyperparameters: dict[str, Any] | None = None,
                 image: str = SKLEARN_IMAGE) -> dict[str, Any]:
        return {
            "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": image,
                                       "MetricDefinitions": [{"Name": "score", "Regex": r"score=([0-9.]+);"}]},
            "HyperParameters": {"sagemaker_program": '"train.py"',
                                "sagemaker_submit_directory": f'"{self.uri("code/sourcedir.tar.gz")}"',
                                **(hyperparameters or {})},
            "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": train_uri, "S3DataDistributionType": "FullyReplicated"}}}],
            "OutputDataConfig": {"S3OutputPath": self.uri("models")},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "RoleArn": ROLE, "StoppingCondition": {"MaxRuntimeInSeconds": 300},
        }
