"""URL map for our SageMaker backend (same shape as moto's, pointing at our responses)."""

from localcloud.sagemaker.responses import LocalSageMakerResponse

url_bases = [
    r"https?://api\.sagemaker\.(.+)\.amazonaws.com",
]

url_paths = {
    "{0}/$": LocalSageMakerResponse.dispatch,
}
