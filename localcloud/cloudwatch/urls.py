"""URL map for our CloudWatch backend (same shape as moto's, pointing at our responses)."""

from localcloud.cloudwatch.responses import LocalCloudWatchResponse

url_bases = [r"https?://monitoring\.(.+)\.amazonaws.com"]

url_paths = {"{0}/$": LocalCloudWatchResponse.dispatch}
